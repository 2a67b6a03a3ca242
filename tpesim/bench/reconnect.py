"""``tpesim bench fleet --restart``: how a connected fleet comes back after a broker restart.

Every terminal loses its connection in the same instant. Each then retries as a terminal does
(``terminal.channel``: exponential backoff with full jitter, 0.1 s doubling to 1 s, its RNG
seeded by its TID), or, with ``jitter=False``, with the same delays at their ceiling: the
lockstep schedule of terminals without jitter, for comparison. Reported: how long after the
restart each terminal had its new CONNACK, and the most CONNACKs in any 100 ms (the burst
the broker takes).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from terminal.channel import BACKOFF_S
from tpesim.broker.launcher import BrokerHandle, restart_broker
from wire.protocol import topics
from wire.transport import MqttTransport
from wire.transport.backoff import Backoff
from wire.transport.base import BrokerUrl, TransportError, WillMessage

__all__ = ["Reconnection", "measure_reconnection", "terminal_connection"]

WINDOW_S = 0.1
"""The width of the windows the burst is counted in."""
BACK_WITHIN_S = 120.0
AWAY_S = 2.0
"""How long the broker stays down: the terminals' retries reach their 1 s ceiling meanwhile."""


class _Ceiling(random.Random):
    """An RNG whose uniform draw is always the top of its range: backoff without jitter."""

    def uniform(self, a: float, b: float) -> float:
        return b


@dataclass
class Reconnection:
    """Seconds from the broker's restart to each terminal's new CONNACK (sorted)."""

    terminals: int
    back_s: list[float]
    jitter: bool
    away_s: float
    """From the restart until the new broker ran (its "running" line)."""

    def _quantile(self, q: float) -> float:
        if not self.back_s:
            return 0.0
        return self.back_s[min(len(self.back_s) - 1, int(q * len(self.back_s)))]

    @property
    def peak_per_window(self) -> int:
        """The most CONNACKs within one :data:`WINDOW_S` window."""
        windows = Counter(int(at / WINDOW_S) for at in self.back_s)
        return max(windows.values(), default=0)

    def summary(self) -> dict[str, Any]:
        return {
            "jitter": self.jitter,
            "broker_away_s": round(self.away_s, 3),
            "reconnected": len(self.back_s),
            "not_back": self.terminals - len(self.back_s),
            "p50_s": round(self._quantile(0.5), 3),
            "p99_s": round(self._quantile(0.99), 3),
            "last_s": round(self.back_s[-1], 3) if self.back_s else None,
            "peak_per_100ms": self.peak_per_window,
        }

    def render(self) -> str:
        s = self.summary()
        return (
            f"  broker restarted, away {s['broker_away_s']} s; terminals retrying with "
            f"{'full jitter' if s['jitter'] else 'no jitter'}: {s['reconnected']} of "
            f"{self.terminals} back, from the restart p50 {s['p50_s']} s, p99 "
            f"{s['p99_s']} s, last {s['last_s']} s; at most {s['peak_per_100ms']} CONNACKs "
            "in 100 ms"
        )


async def measure_reconnection(
    handle: BrokerHandle,
    fleet: Sequence[tuple[str, MqttTransport]],
    client: type[MqttTransport],
    *,
    jitter: bool = True,
    away_s: float = AWAY_S,
) -> tuple[Reconnection, list[MqttTransport]]:
    """Restart the broker of ``handle`` under the connected ``fleet`` (tid, transport) and
    time each terminal's return; the measurement, and the new connections (the caller closes
    them)."""
    back: dict[str, float] = {}
    fresh: list[MqttTransport] = []

    async def follow(tid: str, transport: MqttTransport) -> None:
        with_jitter = random.Random(f"reconnect:{tid}")  # noqa: S311 - delays, not secrets
        backoff = Backoff(*BACKOFF_S, with_jitter if jitter else _Ceiling())
        try:
            async for _ in transport.messages():
                pass
        except TransportError:
            pass
        await transport.__aexit__(None, None, None)
        while True:
            await asyncio.sleep(backoff.next_delay())
            again = terminal_connection(client, handle.url, tid)
            try:
                await again.__aenter__()
            except TransportError:
                continue
            back[tid] = time.perf_counter()
            fresh.append(again)
            return

    tasks = [asyncio.create_task(follow(tid, t)) for tid, t in fleet]
    down_at = time.perf_counter()
    await restart_broker(handle, kill=False, away_s=away_s)
    away_s = time.perf_counter() - down_at
    _, pending = await asyncio.wait(tasks, timeout=BACK_WITHIN_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    delays = sorted(at - down_at for at in back.values())
    return Reconnection(len(fleet), delays, jitter, away_s), fresh


def terminal_connection(client: type[MqttTransport], broker: BrokerUrl, tid: str) -> MqttTransport:
    """A fleet terminal's connection: its own login and client id, its Will."""
    return client(broker.login_as(tid), client_id=f"tpesim-fleet-{tid}",
                  will=WillMessage(topics.status(tid), b"offline"))  # fmt: skip
