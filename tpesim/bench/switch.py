"""``tpesim bench switch``: the full switch path against the ceiling, on one broker.

Two runs over the same broker, the same MQTT client library and the same closed-loop load (a
fixed number of requests in flight, each answered request replaced by the next):

(a) **echo** — a bare service that republishes each request on its terminal's response topic:
    what the broker and the client library allow, the ceiling;
(b) **switch** — the real switch: decode, MAC + PIN + ARQC verification, authorization, the hold
    committed to the SQLite ledger, the response.

The switch runs the same load twice by default, trace events off then on (``trace="both"``):
``tpesim switch`` publishes them unless told not to, and they cost CPU of their own.

The requests are real chip + PIN purchases, MAC'd under each terminal's DUKPT key, built before
the clock starts (the terminals' cost is not the switch's). Latency is publish to response, as
the load generator sees it, in milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cards.catalog import CardSet, default_card_set, load_card_set
from cards.holders import Holders, default_holders
from switch.ledger.where import LedgerLocation, open_ledger, postgres_location
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from tpesim.bench.crypto import (
    EVERYDAY_CARDS,
    bench_terminals,
    machine,
    sealed_purchases,
)
from tpesim.bench.load import LoadGenerator, PathRun, Sent
from tpesim.broker.launcher import given_or_running_broker
from tpesim.issue import issue_card_set
from tpesim.workers import switch_workers
from wire.protocol import topics
from wire.registry import default_registry
from wire.sealing import seal
from wire.tasks import wait_ended
from wire.transport import CLIENTS, DEFAULT_CLIENT
from wire.transport.base import BrokerUrl

__all__ = [
    "BenchCards",
    "SwitchBench",
    "TraceMode",
    "bench_workload",
    "issue_bench_cards",
    "run_switch_bench",
]

TraceMode = Literal["off", "on", "both"]

AMOUNT = 1_000
"""10,00 DA per purchase: the bench's cards can pay thousands of them within their limits."""
CARDS = 1_000
"""Cards paying in the bench by default: a town's worth, so few requests wait on one card."""
CARD_SEED = 7


@dataclass
class SwitchBench:
    """Both runs, and how they compare."""

    echo: PathRun
    switch: PathRun
    concurrency: int
    broker: str
    trace: TraceMode
    """``off``/``on``: :attr:`switch` ran with trace events so; ``both``: :attr:`switch` ran with
    them off and :attr:`traced` with them on."""
    separate_load: bool = True
    """The load generator ran in its own process."""
    cards: int = len(EVERYDAY_CARDS)
    """How many cards paid in turn."""
    mqtt: str = DEFAULT_CLIENT
    """The MQTT client library of all three (wire.transport.CLIENTS)."""
    workers: int = 1
    """Switch processes (1: the switch runs in the bench's process)."""
    ledger: str = "sqlite"
    paced: PathRun | None = None
    """The switch again, open loop at :attr:`paced_target` requests/s (``--paced``)."""
    paced_target: float = 0.0
    switch_cpu_s: float | None = None
    """CPU seconds the switch's process spent over the timed closed-loop run, all its threads
    (the event loop and the ledger's): None when the switch ran in processes of its own
    (``workers`` > 1) or shared its process with the load."""
    traced: PathRun | None = None
    """With ``trace="both"``: the switch again, trace events on, the same closed loop."""
    traced_cpu_s: float | None = None
    """CPU seconds of the switch's process over :attr:`traced` (None as for ``switch_cpu_s``)."""

    @property
    def switch_cpu_us(self) -> float | None:
        """The switch's CPU per timed request, microseconds (the stable figure on a shared
        machine, where the rate moves with the neighbours' load)."""
        return _per_request_us(self.switch_cpu_s, self.switch)

    @property
    def traced_cpu_us(self) -> float | None:
        """The switch's CPU per timed request with trace events on (``trace="both"``)."""
        return None if self.traced is None else _per_request_us(self.traced_cpu_s, self.traced)

    @property
    def all_approved(self) -> bool:
        """Every timed request of every switch run was approved."""
        runs = [run for run in (self.switch, self.traced, self.paced) if run is not None]
        return all(run.codes.get("00", 0) == run.requests for run in runs)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object."""
        ratio = self.switch.per_second / self.echo.per_second if self.echo.per_second else 0.0
        return (
            self._paced_summary()
            | self._traced_summary()
            | {
                "echo_rps": round(self.echo.per_second, 1),
                "switch_rps": round(self.switch.per_second, 1),
                "switch_cpu_us": self.switch_cpu_us,
                "ratio": round(ratio, 3),
                "p50_ms": round(self.switch.percentile(0.50), 2),
                "p99_ms": round(self.switch.percentile(0.99), 2),
                "echo_p50_ms": round(self.echo.percentile(0.50), 2),
                "echo_p99_ms": round(self.echo.percentile(0.99), 2),
                "requests": self.switch.requests,
                "concurrency": self.concurrency,
                "cards": self.cards,
                "mqtt_client": self.mqtt,
                "switch_workers": self.workers,
                "ledger": self.ledger,
                "approved": self.switch.codes.get("00", 0),
                "responses": dict(sorted(self.switch.codes.items())),
                "trace": self.trace,
                "load_process": "separate" if self.separate_load else "shared",
                "broker": self.broker,
                "machine": machine(),
            }
        )

    def _paced_summary(self) -> dict[str, Any]:
        if self.paced is None:
            return {}
        return {
            "paced_target_rps": round(self.paced_target, 1),
            "paced_rps": round(self.paced.per_second, 1),
            "paced_p50_ms": round(self.paced.percentile(0.50), 2),
            "paced_p99_ms": round(self.paced.percentile(0.99), 2),
            "paced_approved": self.paced.codes.get("00", 0),
        }

    def _traced_summary(self) -> dict[str, Any]:
        if self.traced is None:
            return {}
        return {
            "traced_rps": round(self.traced.per_second, 1),
            "traced_p50_ms": round(self.traced.percentile(0.50), 2),
            "traced_p99_ms": round(self.traced.percentile(0.99), 2),
            "traced_cpu_us": self.traced_cpu_us,
            "traced_approved": self.traced.codes.get("00", 0),
        }

    def render(self) -> str:
        s = self.summary()
        return (
            (
                f"tpesim bench switch: {s['requests']} chip + PIN purchases by {s['cards']} cards, "
                f"{s['concurrency']} in flight, broker {s['broker']}, load generator in a "
                f"{s['load_process']} process, {s['switch_workers']} switch process(es) on a "
                f"{s['ledger']} ledger ({s['machine']})\n"
                f"  echo (ceiling)     {s['echo_rps']:>9.1f} req/s   "
                f"p50 {s['echo_p50_ms']:.2f} ms   "
                f"p99 {s['echo_p99_ms']:.2f} ms\n"
                f"  switch{_trace_label(self.trace)} {s['switch_rps']:>9.1f} req/s   "
                f"p50 {s['p50_ms']:.2f} ms   "
                f"p99 {s['p99_ms']:.2f} ms   ({s['approved']} approved; {s['responses']})\n"
                f"  ratio switch/echo: {s['ratio']:.3f}"
            )
            + (
                f"\n  switch, trace on  {s['traced_rps']:>9.1f} req/s   "
                f"p50 {s['traced_p50_ms']:.2f} ms   p99 {s['traced_p99_ms']:.2f} ms   "
                f"({s['traced_approved']} approved)"
                if self.traced is not None
                else ""
            )
            + (
                f"\n  switch CPU per request: {s['switch_cpu_us']:.0f} µs"
                + (f" trace off, {s['traced_cpu_us']:.0f} µs trace on" if self.traced else "")
                + " (process CPU clock, all its threads, over each timed run)"
                if s["switch_cpu_us"] is not None
                else ""
            )
            + (
                f"\n  switch paced at {s['paced_target_rps']:.1f} req/s (open loop): "
                f"{s['paced_rps']:.1f} req/s   p50 {s['paced_p50_ms']:.2f} ms   "
                f"p99 {s['paced_p99_ms']:.2f} ms   ({s['paced_approved']} approved)"
                if self.paced is not None
                else ""
            )
        )


def _per_request_us(cpu_s: float | None, run: PathRun) -> float | None:
    """CPU seconds over a run as microseconds per request of it (None: not measured)."""
    if cpu_s is None or not run.requests:
        return None
    return round(cpu_s / run.requests * 1e6, 1)


def _trace_label(trace: TraceMode) -> str:
    """How the first switch run's line names its trace setting."""
    return ", trace on " if trace == "on" else ", trace off"


async def _echo(broker: BrokerUrl, ready: asyncio.Event, mqtt: str) -> None:
    """The ceiling: each request straight back on its terminal's response topic, in order."""
    async with CLIENTS[mqtt](broker, client_id=f"bench-echo-{os.getpid()}") as client:
        await client.subscribe(topics.REQUEST_FILTER, qos=1)
        ready.set()
        async for inbound in client.messages():
            tid = inbound.topic.split("/")[1]
            await client.publish(topics.response(tid), inbound.payload, qos=1)


@dataclass(frozen=True)
class BenchCards:
    """The card set the bench pays with, its keys, its holders and which cards pay."""

    cards: CardSet
    security: SecurityModule
    holders: Holders
    paying: tuple[str, ...]
    files: tuple[Path, Path] | None = None
    """(cards, keys) files of an issued set, for switch processes; None: the shipped set."""


def issue_bench_cards(count: int, workdir: Path) -> BenchCards:
    """``count`` Edahabia cards issued for the bench (seeded, each on its own account), or the
    shipped set's five everyday cards when ``count`` is 0."""
    if count == 0:
        return BenchCards(default_card_set(), SecurityModule(load_keys()), default_holders(),
                      EVERYDAY_CARDS)  # fmt: skip
    issued = issue_card_set(product_id="edahabia", count=count, seed=CARD_SEED,
                            today=datetime.now(UTC).date())  # fmt: skip
    issued.write(workdir / "cards")
    cards = load_card_set(workdir / "cards" / "cards.yaml")
    security = SecurityModule(load_keys(workdir / "cards" / "keys.yaml"))
    files = (workdir / "cards" / "cards.yaml", workdir / "cards" / "keys.yaml")
    return BenchCards(cards, security, issued.holders, tuple(c.id for c in cards.cards), files)


@asynccontextmanager
async def _switches(
    broker: BrokerUrl,
    location: LedgerLocation,
    *,
    workers: int,
    bench_cards: BenchCards,
    trace: bool,
    mqtt: str,
    workdir: Path,
) -> AsyncIterator[Callable[[bool], None] | None]:
    """The switch under test: in this process, or ``workers`` processes of their own. Yields
    how to turn its trace events on or off while it runs (None: processes of their own, whose
    setting is fixed at start)."""
    if workers == 1:
        async with running_switch(broker=broker, db_path=location, cards=bench_cards.cards,
                                  registry=default_registry(), security=bench_cards.security,
                                  persistent=False, client=CLIENTS[mqtt]) as switch:  # fmt: skip
            switch.trace = trace

            def set_trace(on: bool) -> None:
                switch.trace = on

            yield set_trace
        return
    async with await open_ledger(location, bench_cards.cards):
        pass  # the accounts and opening balances, once, before the workers start
    async with switch_workers(workers, broker=broker, ledger=location,
                              log=workdir / "workers.log", card_files=bench_cards.files,
                              name="tpesim-bench-switch", trace=trace, client=mqtt):  # fmt: skip
        yield None


def bench_workload(
    count: int, warmup: int, fleet_size: int, bench_cards: BenchCards, runs: int = 1
) -> tuple[Sent, Sent, list[Sent]]:
    """(sign-ons, warm-up purchases, ``runs`` timed runs of ``count`` purchases each) as
    (terminal id, payload): every purchase of the bench is a new one."""
    security = bench_cards.security
    terminals = bench_terminals(security, "aes", fleet_size)
    now = datetime.now(UTC)
    sign_ons = []
    for builder, pad in terminals:
        keys = pad.next_transaction()
        sign_ons.append((builder.profile.tid, seal(builder.sign_on(now, keys.ksn_hex), keys)))
    purchases = [
        (request.terminal_id, payload)
        for request, payload in sealed_purchases(
            terminals, warmup + count * runs, security, bench_cards.cards, amount=AMOUNT,
            card_ids=bench_cards.paying, holders=bench_cards.holders,
        )
    ]  # fmt: skip
    timed = [purchases[warmup + count * run : warmup + count * (run + 1)] for run in range(runs)]
    return sign_ons, purchases[:warmup], timed


async def run_switch_bench(
    *,
    requests: int = 5_000,
    concurrency: int = 50,
    broker: BrokerUrl | None = None,
    workdir: Path | None = None,
    trace: TraceMode = "both",
    fleet_size: int = 40,
    separate_load: bool = True,
    cards: int = CARDS,
    mqtt: str = DEFAULT_CLIENT,
    ledger: LedgerLocation | None = None,
    workers: int = 1,
    paced: float | Literal["half"] | None = None,
) -> SwitchBench:
    """Run (a) the echo ceiling and (b) the switch with the same load; see the module doc.
    ``cards``: how many cards pay (issued for the bench; 0: the shipped set's five); ``mqtt``:
    the MQTT client of the echo, the switch and the load (wire.transport.CLIENTS);
    ``ledger``: the switch's (default: a new SQLite file in ``workdir``); ``workers`` > 1: that
    many ``tpesim switch --shared`` processes (on ``mqtt`` too) on a PostgreSQL ``ledger``;
    ``paced``: then ``requests`` more, open loop at that many requests/s, or ``"half"`` the
    closed-loop figure (the latency at half the throughput); ``trace``: the switch's trace
    events ``off``, ``on``, or ``both`` (off, then the timed run again with them on; one switch
    process only)."""
    if trace == "both" and workers > 1:
        raise ValueError("trace both: one switch process (workers fix their setting at start)")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tpesim-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    warmup = min(500, max(requests // 10, concurrency))
    bench_cards = issue_bench_cards(cards, workdir)
    runs = 1 + (trace == "both") + bool(paced)
    sign_ons, warm, timed_runs = bench_workload(requests, warmup, fleet_size, bench_cards, runs)
    timed, more = timed_runs[0], timed_runs[-1]
    async with given_or_running_broker(broker, workdir) as handle:
        load = LoadGenerator(handle.url, concurrency, separate=separate_load, mqtt=mqtt)
        try:
            ready = asyncio.Event()
            echo_task = asyncio.create_task(_echo(handle.url, ready, mqtt))
            try:
                async with asyncio.timeout(15):
                    await ready.wait()
                await load.run("echo", warm)
                echo = await load.run("echo", timed)
            finally:
                await wait_ended(echo_task, cancel=True)
            location = ledger or workdir / "ledger.db"
            async with _switches(handle.url, location, workers=workers, bench_cards=bench_cards,
                                 trace=trace == "on", mqtt=mqtt,
                                 workdir=workdir) as set_trace:  # fmt: skip
                await load.run("sign-on", sign_ons, 1)
                await load.run("switch", warm)
                measured, cpu_s = await _timed(load, "switch", timed)
                traced = traced_cpu_s = None
                if trace == "both" and set_trace is not None:
                    set_trace(True)
                    traced, traced_cpu_s = await _timed(load, "traced", timed_runs[1])
                    set_trace(False)  # the paced run, if any, as the first: trace off
                rate = measured.per_second / 2 if paced == "half" else paced
                steady = await load.run("paced", more, rate=rate) if rate else None
        finally:
            load.close()
        return SwitchBench(
            echo,
            measured,
            concurrency,
            handle.kind,
            trace,
            separate_load,
            len(bench_cards.paying),
            mqtt,
            workers,
            "sqlite" if postgres_location(location) is None else "postgresql",
            steady,
            rate or 0.0,
            cpu_s if workers == 1 and separate_load else None,
            traced,
            traced_cpu_s if workers == 1 and separate_load else None,
        )


async def _timed(load: LoadGenerator, label: str, sent: Sent) -> tuple[PathRun, float]:
    """One timed closed-loop run, and the CPU seconds this process spent over it."""
    cpu_before = time.process_time()
    run = await load.run(label, sent)
    return run, time.process_time() - cpu_before
