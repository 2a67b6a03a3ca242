"""``tpesim bench flood``: one terminal floods the switch with malformed messages; how much
slower are the others?

The same purchases are sent twice, open loop at a steady rate from a fleet of terminals: once
alone (unloaded), once while another terminal publishes garbage at ``flood_rate`` messages/s
(non-JSON bytes, a truncated object, wrong field types, a request naming another TID, a payload
over the size limit). The report compares the others' latency percentiles. The switch runs as
``tpesim switch`` does: trace events on, and each terminal held to its rate limit
(switch.rules.admission), which ``--limit off`` removes to show what the limit is for. The flood is
sent from a process of its own (tpesim.bench.flood_source).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switch.rules.admission import RateLimit
from switch.service import DEFAULT_LIMIT
from switch.startup import running_switch
from tpesim.bench.crypto import machine
from tpesim.bench.flood_source import Flood, FloodCount, flooding
from tpesim.bench.load import LoadGenerator, PathRun
from tpesim.bench.switch import bench_workload, issue_bench_cards
from tpesim.broker.launcher import given_or_running_broker
from wire.protocol.codec import MAX_PAYLOAD_BYTES
from wire.registry import default_registry
from wire.transport import CLIENTS, DEFAULT_CLIENT
from wire.transport.base import BrokerUrl

__all__ = ["FloodBench", "flood_payloads", "run_flood_bench"]

FLOOD_TID = "DZAL9999"
"""The flooding terminal: a TID of the right shape, so its messages reach the switch's rules."""


def flood_payloads(sample: bytes) -> tuple[bytes, ...]:
    """Malformed messages made from ``sample`` (a sealed purchase of another terminal): each
    gets a format error (30) from the switch, at most."""
    purchase = json.loads(sample)
    return (
        b"\xff\xfe\x00 not JSON at all",
        sample[: len(sample) // 2],
        json.dumps(purchase | {"4": "-12", "11": "STAN"}).encode(),
        sample,  # well formed, but DE41 names another terminal than the topic
        b"{" + b" " * MAX_PAYLOAD_BYTES + b"}",
    )


@dataclass
class FloodBench:
    """The others' purchases alone and under the flood."""

    unloaded: PathRun
    flooded: PathRun
    rate: float
    flood_rate: float
    terminals: int
    limit: RateLimit | None
    dropped: int
    """Flood messages the switch dropped unread (over the terminal's rate limit)."""
    format_errors: int
    """Flood messages the switch read and answered 30."""
    flood: FloodCount
    """What the flood sent, from before the others' first purchase to after their last."""
    broker: str
    mqtt: str

    @property
    def p99_ratio(self) -> float:
        """Flooded p99 over unloaded p99."""
        return self.ratio(0.99)

    def ratio(self, q: float) -> float:
        """Flooded over unloaded latency at quantile ``q`` (0..1)."""
        unloaded = self.unloaded.percentile(q)
        return self.flooded.percentile(q) / unloaded if unloaded else 0.0

    @property
    def all_approved(self) -> bool:
        return all(r.codes.get("00", 0) == r.requests for r in (self.unloaded, self.flooded))

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object."""
        limit = f"{self.limit.rate:g}/{self.limit.burst}" if self.limit else "off"
        return {
            "unloaded_p50_ms": round(self.unloaded.percentile(0.50), 2),
            "unloaded_p99_ms": round(self.unloaded.percentile(0.99), 2),
            "flooded_p50_ms": round(self.flooded.percentile(0.50), 2),
            "flooded_p99_ms": round(self.flooded.percentile(0.99), 2),
            "p90_ratio": round(self.ratio(0.90), 2),
            "p99_ratio": round(self.p99_ratio, 2),
            "requests": self.flooded.requests,
            "rate_rps": self.rate,
            "terminals": self.terminals,
            "approved": self.unloaded.codes.get("00", 0) + self.flooded.codes.get("00", 0),
            "flood_rate": self.flood_rate,
            "flood_sent": self.flood.sent,
            "flood_seconds": round(self.flood.seconds, 2),
            "flood_dropped": self.dropped,
            "flood_answered_30": self.format_errors,
            "rate_limit": limit,
            "mqtt_client": self.mqtt,
            "broker": self.broker,
            "machine": machine(),
        }

    def render(self) -> str:
        s = self.summary()
        return (
            f"tpesim bench flood: {s['requests']} purchases from {s['terminals']} terminals at "
            f"{s['rate_rps']:g}/s, alone and while {FLOOD_TID} sends {s['flood_rate']:g} "
            f"malformed messages/s; rate limit per terminal {s['rate_limit']}; broker "
            f"{s['broker']} ({s['machine']})\n"
            f"  alone    p50 {s['unloaded_p50_ms']:.2f} ms   p99 {s['unloaded_p99_ms']:.2f} ms\n"
            f"  flooded  p50 {s['flooded_p50_ms']:.2f} ms   p99 {s['flooded_p99_ms']:.2f} ms   "
            f"(p90 x{s['p90_ratio']:.2f}, p99 x{s['p99_ratio']:.2f})\n"
            f"  flood: {s['flood_sent']} sent, {s['flood_dropped']} dropped unread, "
            f"{s['flood_answered_30']} answered 30; {s['approved']} purchases approved"
        )


async def run_flood_bench(
    *,
    requests: int = 1_000,
    rate: float = 100.0,
    flood_rate: float = 2_000.0,
    terminals: int = 8,
    limit: RateLimit | None = DEFAULT_LIMIT,
    broker: BrokerUrl | None = None,
    workdir: Path | None = None,
    mqtt: str = DEFAULT_CLIENT,
    separate_load: bool = True,
) -> FloodBench:
    """Run the others alone, then under the flood; see the module doc."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tpesim-flood-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cards = issue_bench_cards(200, workdir)
    warmup = min(200, requests // 5)
    sign_ons, warm, (timed, more) = bench_workload(requests, warmup, terminals, cards, runs=2)
    flood = Flood(FLOOD_TID, flood_rate, flood_payloads(timed[0][1]))
    async with given_or_running_broker(broker, workdir) as handle:
        load = LoadGenerator(handle.url, 10, separate=separate_load, mqtt=mqtt)
        try:
            switching = running_switch(
                broker=handle.url, db_path=workdir / "ledger.db", cards=cards.cards,
                registry=default_registry(), security=cards.security, persistent=False,
                client=CLIENTS[mqtt], rate_limit=limit,
            )  # fmt: skip
            async with switching as switch:
                await load.run("sign-on", sign_ons, 1)
                await load.run("warm-up", warm)
                unloaded = await load.run("alone", timed, rate=rate)
                async with flooding(handle.url, flood, mqtt) as count:
                    flooded = await load.run("flooded", more, rate=rate)
                stats = switch.processor.stats
                admission = switch.admission
        finally:
            load.close()
    dropped = admission.dropped[FLOOD_TID] if admission else 0
    return FloodBench(unloaded, flooded, rate, flood_rate, terminals, limit, dropped,
                      stats.format_errors, count, handle.kind, mqtt)  # fmt: skip
