"""``tpesim demo``: broker, switch and a fleet of terminals running a seeded stream of purchases.

Everything a run writes goes to its work directory: the ledger (``ledger.db``), receipts per
terminal, ``outcomes.jsonl`` (masked PANs) and ``tpesim.log``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cards.catalog import CardSet, default_card_set
from cards.holders import Holders
from cards.models import Card
from switch.ledger.checker.check import LedgerReport, check_ledger
from switch.ledger.postings import business_day
from switch.processor import SwitchStats
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from terminal.records import TerminalError
from terminal.shell.tpe import Terminal, TransactionOutcome
from terminal.traffic import plan_traffic
from tpesim.broker.launcher import BrokerKind, given_or_running_broker
from tpesim.demo_extras import abroad_payments, has_login, qr_payments
from tpesim.fleet import Progress, connected_fleet, run_plan, run_purchase
from tpesim.serve import ServeConfig, serve
from tpesim.trace_file import recording_traces
from tpesim.wallet import Wallet
from wire.clock import Clock, SystemClock
from wire.magic import magic_amounts
from wire.protocol.messages import BatchResponse
from wire.protocol.wallet import QrPaymentResult
from wire.registry import Registry, default_registry
from wire.transport.base import BrokerUrl

__all__ = ["DemoConfig", "DemoResult", "outcome_record", "paced_traffic", "run_demo", "run_demo_ui"]

log = logging.getLogger("tpesim.demo")

TRACE_FILE = "traces.jsonl"
"""Every trace event of the run, one per line (tpesim.trace_file)."""


@dataclass(frozen=True)
class DemoConfig:
    """Options of one demo run (the CLI flags)."""

    terminals: int = 10
    transactions: int = 300
    seed: int = 7
    broker: BrokerUrl | None = None
    broker_kind: BrokerKind = "auto"
    timeout_s: float = 3.0
    workdir: Path | None = None
    secure: bool = False
    """Start a locked-down Mosquitto (TLS, one login per terminal, ACLs) instead of an open
    one; ignored with ``broker`` (point it at an access file instead)."""


@dataclass
class DemoResult:
    """What a demo run produced."""

    config: DemoConfig
    workdir: Path
    broker_kind: str
    broker_url: BrokerUrl
    outcomes: list[TransactionOutcome]
    ledger: LedgerReport
    switch_stats: SwitchStats
    elapsed_s: float
    late_responses: int = 0
    unresolved_reversals: int = 0
    responses: dict[str, int] = field(default_factory=dict)
    batches: dict[str, BatchResponse] = field(default_factory=dict)
    """Each terminal's answer to its end-of-run batch close (0510)."""
    business_day: date | None = None
    """The first terminal's business day at the end of the run (what ``tpesim settle`` takes)."""
    qr: list[QrPaymentResult] = field(default_factory=list)
    """The BaridiPay-style QR payments made after the purchases (a paid one, a refused one)."""
    abroad: list[TransactionOutcome] = field(default_factory=list)
    """The payments of a card at the web shop abroad, after the purchases (one within its
    foreign-currency allowance, one over it)."""
    abroad_card: str | None = None
    """The card that paid abroad."""

    def batch_summary(self) -> dict[str, Any]:
        out = {tid: b for tid, b in sorted(self.batches.items()) if b.response_code != "00"}
        return {
            "closed": len(self.batches),
            "in_balance": len(self.batches) - len(out),
            "out_of_balance": {tid: list(b.differences or ()) for tid, b in out.items()},
        }

    @property
    def approved(self) -> int:
        return sum(1 for o in self.outcomes if o.approved)

    @property
    def timeouts(self) -> int:
        return sum(1 for o in self.outcomes if o.response_code is None)

    @property
    def outcome_digest(self) -> str:
        """SHA-256 over the per-transaction verdicts: equal digests ⇒ identical outcomes."""
        text = "\n".join(
            f"{o.tid} {o.card_id} {o.amount} {o.verdict} {o.reversal}" for o in self.outcomes
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "transactions": len(self.outcomes),
            "approved": self.approved,
            "responses": dict(sorted(self.responses.items())),
            "timeouts": self.timeouts,
            "reversals": {
                "sent": sum(1 for o in self.outcomes if o.reversal),
                "unresolved": self.unresolved_reversals,
            },
            "ledger": self.ledger.as_dict() | {"ok": self.ledger.ok},
            "batches": self.batch_summary(),
            "business_day": self.business_day.isoformat() if self.business_day else None,
            "qr": dict(sorted(Counter(r.response_code for r in self.qr).items())),
            "abroad": dict(sorted(Counter(o.verdict for o in self.abroad).items())),
            "seed": self.config.seed,
            "terminals": self.config.terminals,
            "broker": self.broker_kind,
            "elapsed_s": round(self.elapsed_s, 2),
            "outcome_digest": self.outcome_digest,
            "workdir": str(self.workdir),
        }


def outcome_record(index: int, outcome: TransactionOutcome) -> dict[str, Any]:
    """One line of ``outcomes.jsonl``: what happened to purchase ``index`` (PAN masked)."""
    return (
        {
            "n": index,
            "tid": outcome.tid,
            "stan": outcome.stan,
            "de7": outcome.transmission_time,
            "card": outcome.card_id,
            "pan": outcome.masked_pan,
            "amount": outcome.amount,
            "currency": outcome.currency,
            "response": outcome.verdict,
            "approved": outcome.approved,
            "rrn": outcome.rrn,
            "reversal": outcome.reversal,
            "latency_ms": round(outcome.latency_ms, 2),
        }
        | ({"balance": outcome.balance} if outcome.balance is not None else {})
        | ({"cash_back": outcome.cash_back} if outcome.cash_back else {})
    )


def _write_artifacts(
    workdir: Path, outcomes: list[TransactionOutcome], others: list[TransactionOutcome]
) -> None:
    """Receipts per terminal (the plan's purchases, then ``others``), and ``outcomes.jsonl``
    (the plan's purchases)."""
    receipts = workdir / "receipts"
    receipts.mkdir(exist_ok=True)
    by_terminal: dict[str, list[str]] = {}
    for outcome in outcomes + others:
        by_terminal.setdefault(outcome.tid, []).append(outcome.receipt)
    for tid, texts in by_terminal.items():
        (receipts / f"{tid}.txt").write_text("\n\n".join(texts) + "\n", encoding="utf-8")
    with (workdir / "outcomes.jsonl").open("w", encoding="utf-8") as out:
        for index, outcome in enumerate(outcomes):
            out.write(json.dumps(outcome_record(index, outcome), ensure_ascii=False) + "\n")


async def run_demo(
    config: DemoConfig,
    *,
    cards: CardSet | None = None,
    registry: Registry | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    security: SecurityModule | None = None,
    holders: Holders | None = None,
) -> DemoResult:
    """Run the whole demo: broker (unless ``config.broker``), switch, fleet, plan, then a real
    check of the ledger the run wrote."""
    cards = cards or default_card_set()
    registry = registry or default_registry()
    security = security or SecurityModule(load_keys())
    clock = clock or SystemClock()
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="tpesim-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "ledger.db"
    if db_path.exists():
        raise FileExistsError(f"{db_path} exists: give the demo an empty work directory")
    fleet = registry.fleet(config.terminals)
    shops = registry.web_shops()[:1]  # the web shop abroad, paid after the purchases
    magic = magic_amounts()
    plan = plan_traffic(
        seed=config.seed,
        count=config.transactions,
        fleet=fleet,
        cards=cards,
        magic=magic,
        today=clock.now().date(),
        holders=holders,
    )
    started = time.perf_counter()

    async def with_broker(url: BrokerUrl, kind: str) -> DemoResult:
        # Its own client id, so a demo never takes over the session of a `tpesim switch`
        # serving the same (external) broker.
        traces = workdir / TRACE_FILE
        async with (
            recording_traces(url, traces, f"tpesim-demo-traces-{os.getpid()}"),
            running_switch(
                broker=url,
                db_path=db_path,
                cards=cards,
                registry=registry,
                clock=clock,
                magic=magic,
                client_id=f"tpesim-demo-switch-{os.getpid()}",
                security=security,
                require_mac=config.secure,
            ) as switch,
        ):
            async with connected_fleet(
                fleet, url, clock=clock, timeout_s=config.timeout_s, key_injection=security
            ) as terminals:
                wallet = Wallet(cards, security, holders=holders)
                run = await run_plan(plan, terminals, cards, progress=progress, wallet=wallet)
                closes = await asyncio.gather(*(t.close_batch() for t in terminals.values()))
                batches = {close.terminal_id: close for close in closes}
                late = sum(t.stats.late_responses for t in terminals.values())
                unresolved = sum(t.stats.reversals_unresolved for t in terminals.values())
                qr = await qr_payments(terminals[fleet[0].tid], url, cards, security, clock)
            payer: Card | None = None
            abroad: list[TransactionOutcome] = []
            # An access file of your own may have no login for the web shop: no payment abroad.
            if shops and has_login(url, shops[0].tid):
                fx = switch.processor.purchases.fx
                async with connected_fleet(shops, url, clock=clock, timeout_s=config.timeout_s,
                                           key_injection=security) as web:  # fmt: skip
                    shop = web[shops[0].tid]
                    payer, abroad = await abroad_payments(shop, cards, wallet, clock, fx)
            stats = switch.processor.stats
        elapsed = time.perf_counter() - started
        report = await asyncio.to_thread(check_ledger, db_path)
        _write_artifacts(workdir, run.outcomes, abroad)
        return DemoResult(
            config=config,
            workdir=workdir,
            broker_kind=kind,
            broker_url=url,
            outcomes=run.outcomes,
            ledger=report,
            switch_stats=stats,
            elapsed_s=elapsed,
            late_responses=late,
            unresolved_reversals=unresolved,
            batches=batches,
            business_day=business_day(fleet[0].merchant.country_info.timezone, clock.now()),
            responses=dict(Counter(o.response_code for o in run.outcomes if o.response_code)),
            qr=qr,
            abroad=abroad,
            abroad_card=payer.id if payer else None,
        )

    secure = [p.tid for p in fleet + shops] if config.secure else None
    async with given_or_running_broker(
        config.broker, workdir, config.broker_kind, secure=secure
    ) as handle:
        return await with_broker(handle.url, handle.kind)


def paced_traffic(
    config: DemoConfig,
    cards: CardSet,
    registry: Registry,
    *,
    pace_s: float,
    holders: Holders | None = None,
) -> Callable[[dict[str, Terminal], Wallet], Coroutine[Any, Any, None]]:
    """The demo's seeded purchases one at a time, ``pace_s`` seconds apart, for ``tpesim demo
    --ui``: slow enough to follow on the dashboard. A terminal a trainer has unplugged just
    misses its purchase."""

    async def run(terminals: dict[str, Terminal], wallet: Wallet) -> None:
        plan = plan_traffic(seed=config.seed, count=config.transactions,
                            fleet=registry.fleet(config.terminals), cards=cards,
                            magic=magic_amounts(), today=SystemClock().now().date(),
                            holders=holders)  # fmt: skip
        for item in plan:
            try:
                await run_purchase(terminals[item.tid], item, cards, wallet)
            except TerminalError as error:
                log.info("demo purchase %d not made: %s", item.index, error)
            await asyncio.sleep(pace_s)
        log.info("demo traffic done: %d purchases", len(plan))

    return run


async def run_demo_ui(
    config: DemoConfig,
    *,
    port: int,
    pace_s: float,
    cards: CardSet,
    security: SecurityModule,
    holders: Holders | None = None,
) -> None:
    """``tpesim demo --ui``: ``tpesim serve`` (dashboard, virtual terminal, merchant API) over
    the demo's fleet, running its seeded purchases ``pace_s`` apart, until interrupted."""
    registry = default_registry()
    served = ServeConfig(port=port, terminals=config.terminals, broker=config.broker,
                         workdir=config.workdir or Path("tpesim-demo"), timeout_s=config.timeout_s,
                         broker_kind=config.broker_kind, secure=config.secure)  # fmt: skip

    def ready(url: str, tids: list[str]) -> None:
        print(f"tpesim demo --ui: dashboard {url}/  virtual terminal {url}/terminal  "
              f"merchant API {url}/docs\n{len(tids)} terminals; {config.transactions} "
              f"purchases, one every {pace_s:g} s. Ctrl-C stops.", flush=True)  # fmt: skip

    traffic = paced_traffic(config, cards, registry, pace_s=pace_s, holders=holders)
    await serve(served, cards=cards, registry=registry, security=security, ready=ready,
                traffic=traffic)  # fmt: skip
