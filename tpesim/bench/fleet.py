"""``tpesim bench fleet``: how many terminals one process holds, and what each one costs.

Connects N terminals to one broker, each with its own MQTT connection, its Last Will
(``offline`` on ``tpe/{tid}/status``, as a real terminal's) and its subscription to its response
topic; reports the time to connect them all and the memory they take, per terminal (the
process's resident set before and after). Then it cuts one terminal's connection, as a power
cut would, and waits for the broker to publish that terminal's Will: proof that the broker holds
every connection with its Will, not only that the sockets are open.
"""

from __future__ import annotations

import asyncio
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpesim.bench.crypto import machine
from tpesim.bench.reconnect import Reconnection, measure_reconnection, terminal_connection
from tpesim.broker.launcher import BrokerError, given_or_running_broker
from wire.protocol import topics
from wire.transport import CLIENTS, DEFAULT_CLIENT, MqttClient, MqttTransport
from wire.transport.base import BrokerUrl
from wire.transport.url import OPERATOR_LOGIN

__all__ = ["FleetBench", "resident_kib", "run_fleet_bench"]

CONNECTING = 50
"""Connections opened at once (the broker's accept queue is not flooded)."""
WILL_WAIT_S = 15.0


def resident_kib() -> int:
    """This process's resident memory now (KiB; the peak where /proc is not there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _allow_descriptors(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (up to the hard limit); the
    limit now. A broker tpesim starts afterwards inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


@dataclass
class FleetBench:
    """What connecting the fleet took."""

    terminals: int
    connected: int
    seconds: float
    rss_before_kib: int
    rss_after_kib: int
    will_seen: bool
    broker: str
    mqtt: str = DEFAULT_CLIENT
    reconnection: Reconnection | None = None
    """How the fleet came back after a broker restart (``--restart``)."""

    @property
    def kib_per_terminal(self) -> float:
        if not self.connected:
            return 0.0
        return (self.rss_after_kib - self.rss_before_kib) / self.connected

    def summary(self) -> dict[str, Any]:
        return {
            "terminals": self.terminals,
            "connected": self.connected,
            "connect_s": round(self.seconds, 2),
            "connects_per_s": round(self.connected / self.seconds, 1) if self.seconds else 0.0,
            "rss_before_mib": round(self.rss_before_kib / 1024, 1),
            "rss_after_mib": round(self.rss_after_kib / 1024, 1),
            "kib_per_terminal": round(self.kib_per_terminal, 1),
            "will_seen": self.will_seen,
            "broker": self.broker,
            "mqtt_client": self.mqtt,
            "machine": machine(),
        } | ({"restart": self.reconnection.summary()} if self.reconnection else {})

    def render(self) -> str:
        s = self.summary()
        return (
            f"tpesim bench fleet: {s['connected']} of {s['terminals']} terminals connected in "
            f"{s['connect_s']} s ({s['connects_per_s']}/s) with {s['mqtt_client']}, broker "
            f"{s['broker']} ({s['machine']})\n"
            f"  memory: {s['rss_before_mib']} MiB before, {s['rss_after_mib']} MiB after: "
            f"{s['kib_per_terminal']} KiB per terminal\n"
            f"  Last Will of a cut terminal published by the broker: "
            f"{'yes' if s['will_seen'] else 'NO'}"
        ) + ("\n" + self.reconnection.render() if self.reconnection else "")


def _tid(number: int) -> str:
    return f"FL{number:06d}"


async def _connect(
    tid: str, broker: BrokerUrl, gate: asyncio.Semaphore, client: type[MqttTransport]
) -> tuple[str, MqttTransport]:
    """One terminal's connection: its Will, and its response topic subscribed."""
    async with gate:
        transport = terminal_connection(client, broker, tid)
        await transport.__aenter__()
        await transport.subscribe(topics.response(tid), qos=1)
        return tid, transport


async def _will_of(cut: MqttTransport, tid: str, broker: BrokerUrl) -> bool:
    """Cut ``cut`` without a DISCONNECT; True once the broker publishes ``tid``'s Will."""
    operator = broker.login_as(OPERATOR_LOGIN)
    async with MqttClient(operator, client_id=f"tpesim-fleet-watch-{os.getpid()}") as watch:
        await watch.subscribe(topics.status(tid), qos=1)
        cut.abort()
        try:
            async with asyncio.timeout(WILL_WAIT_S):
                async for inbound in watch.messages():
                    if inbound.payload == b"offline":
                        return True
        except TimeoutError:
            return False
    return False


async def run_fleet_bench(
    terminals: int,
    *,
    broker: BrokerUrl | None = None,
    workdir: Path | None = None,
    mqtt: str = DEFAULT_CLIENT,
    restart: str | None = None,
) -> FleetBench:
    """Connect ``terminals`` terminals to ``broker`` (else a Mosquitto started for the bench)
    with the MQTT client ``mqtt`` (wire.transport.CLIENTS); with ``restart`` (``jitter`` or
    ``lockstep``) restart that Mosquitto under them and time their return
    (tpesim.bench.reconnect)."""
    if restart is not None and broker is not None:
        raise BrokerError("--restart restarts a broker the bench starts: leave out --broker")
    _allow_descriptors(terminals + 1024)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tpesim-fleet-"))
    async with given_or_running_broker(broker, workdir) as handle:
        gate = asyncio.Semaphore(CONNECTING)
        before = resident_kib()
        began = time.perf_counter()
        results = await asyncio.gather(
            *(_connect(_tid(n), handle.url, gate, CLIENTS[mqtt]) for n in range(1, terminals + 1)),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - began
        fleet = [r for r in results if isinstance(r, tuple)]
        after = resident_kib()
        reconnection = None
        open_now = [transport for _, transport in fleet]
        try:
            will_seen = bool(fleet) and await _will_of(fleet[-1][1], fleet[-1][0], handle.url)
            if restart is not None:
                # Every terminal but the last, which was cut for its Will.
                reconnection, open_now = await measure_reconnection(
                    handle, fleet[:-1], CLIENTS[mqtt], jitter=restart == "jitter"
                )
        finally:
            await asyncio.gather(*(t.__aexit__(None, None, None) for t in open_now),
                                 return_exceptions=True)  # fmt: skip
        return FleetBench(terminals, len(fleet), seconds, before, after, will_seen, handle.kind,
                          mqtt, reconnection)  # fmt: skip
