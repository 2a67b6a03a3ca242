"""``tpesim bench ledger``: what the SQLite ledger sustains, and how long a day's end takes.

1. Holds then posts through :meth:`Ledger.apply`, ``batch`` transfers per transaction (group
   commit: one fsync per batch), with every rule checked by the database triggers, WAL and
   ``synchronous=FULL`` as in production.
2. Settlement of a business day holding ``settle`` purchase holds: the clearing posts in bulk,
   the fees, the positions. The holds are bulk-loaded first (not timed), then the whole ledger
   goes through the invariant checker, which must pass.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cards.catalog import default_card_set
from switch.flows.settlement import settle_day
from switch.ledger import (
    AccountKind,
    Ledger,
    LedgerAccount,
    Outcome,
    Phase,
    Transfer,
    TransferKind,
    check_ledger,
    merchant_account,
)
from switch.ledger.rules import HOLD_TIMEOUT_S
from switch.ledger.sql import micros
from wire.clock import ManualClock
from wire.registry import default_registry

__all__ = ["LedgerBench", "run_ledger_bench"]

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DAY = date(2026, 11, 23)
HOLDS_POSTS_TARGET = 20_000
SETTLE_TARGET_S = 10.0


@dataclass(frozen=True)
class LedgerBench:
    """Figures of one run (rates in transfers per second, times in seconds)."""

    transfers: int
    batch: int
    holds_per_s: float
    posts_per_s: float
    holds_posts_per_s: float
    settle_transfers: int
    settle_s: float
    check_s: float
    check_ok: bool
    machine: str

    def summary(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def render(self) -> str:
        return "\n".join(
            [
                f"ledger bench on {self.machine} (SQLite WAL, synchronous=FULL)",
                f"  holds:        {self.holds_per_s:>10,.0f} /s  ({self.transfers:,} transfers, "
                f"{self.batch:,} per commit)",
                f"  posts:        {self.posts_per_s:>10,.0f} /s",
                f"  holds+posts:  {self.holds_posts_per_s:>10,.0f} /s  "
                f"(target {HOLDS_POSTS_TARGET:,}/s)",
                f"  settle:       {self.settle_s:>10.2f} s   ({self.settle_transfers:,} holds "
                f"cleared, target < {SETTLE_TARGET_S:.0f} s)",
                f"  check:        {self.check_s:>10.2f} s   "
                f"({'every invariant holds' if self.check_ok else 'VIOLATIONS'})",
            ]
        )


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, " \
        f"SQLite {sqlite3.sqlite_version}"  # fmt: skip


def _hold(i: int, account: str, merchant: str) -> Transfer:
    return Transfer(
        id=f"bench-hold:{i}",
        kind=TransferKind.PURCHASE,
        phase=Phase.PENDING,
        debit_account=account,
        credit_account=merchant,
        amount=100 + i % 900,
        currency="DZD",
        timeout_s=HOLD_TIMEOUT_S,
        card_id="EDH-VALID",
        tid=f"DZAL{1 + i % 25:04d}",
        stan=1 + i % 999_999,
        business_day=DAY,
    )


async def _holds_and_posts(path: Path, transfers: int, batch: int) -> tuple[float, float]:
    funding = LedgerAccount("bench-funding", AccountKind.ISSUER, "DZD", "issuer:algerie-poste")
    holders = [
        LedgerAccount(f"bench-ccp-{n:04d}", AccountKind.CARDHOLDER, "DZD", "issuer:algerie-poste")
        for n in range(1_000)
    ]
    merchant = merchant_account("DZ0000000000101", "DZD")
    openings = [
        Transfer(f"open:{a.id}", TransferKind.OPENING, Phase.SINGLE, funding.id, a.id,
                 10**12, "DZD")
        for a in holders
    ]  # fmt: skip
    holds = [_hold(i, holders[i % len(holders)].id, merchant.id) for i in range(transfers)]
    posts = [
        Transfer(f"bench-post:{h.id}", TransferKind.COMPLETION, Phase.POST, h.debit_account,
                 h.credit_account, h.amount - 1, "DZD", pending_id=h.id, business_day=DAY)
        for h in holds
    ]  # fmt: skip
    async with await Ledger.open(path, clock=ManualClock(START)) as ledger:
        await ledger.apply(openings, accounts=[funding, merchant, *holders])
        timings = []
        for phase in (holds, posts):
            batches = [phase[start : start + batch] for start in range(0, len(phase), batch)]
            started = time.perf_counter()
            # Two submitters, as two switch workers would: one prepares while one commits.
            await _submit(ledger, batches)
            timings.append(len(phase) / (time.perf_counter() - started))
    return timings[0], timings[1]


async def _submit(ledger: Ledger, batches: list[list[Transfer]]) -> None:
    for transfers in batches:
        outcomes = await ledger.apply(transfers)
        if any(o is not Outcome.OK for o in outcomes):
            raise RuntimeError(f"bench transfer refused: {set(outcomes)}")


def _bulk_load(path: Path, count: int) -> None:
    """Load ``count`` purchase holds of DAY straight into the database (bench setup only):
    the per-row triggers are set aside, the counters moved in aggregate, the triggers put back."""
    schema = resources.files("switch.ledger").joinpath("schema.sql").read_text("utf-8")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DROP TRIGGER transfers_rules_new")
        db.execute("DROP TRIGGER transfers_pending")
        merchant = merchant_account("DZ0000000000102", "DZD")
        db.execute(
            "INSERT OR IGNORE INTO accounts (id, kind, currency, participant) VALUES (?, ?, ?, ?)",
            (merchant.id, merchant.kind.value, merchant.currency, merchant.participant),
        )
        db.execute(
            "INSERT INTO accounts (id, kind, currency, participant) VALUES "
            "('bench-funding', 'issuer', 'DZD', 'issuer:algerie-poste')"
        )
        at = micros(START)
        db.executemany(
            "INSERT INTO transfers (id, kind, phase, debit_account, credit_account, amount, "
            "currency, timeout_s, at_us, digest, expires_us, card_id, tid, stan, business_day) "
            "VALUES (?, 'purchase', 'pending', 'bench-funding', ?, ?, 'DZD', ?, ?, '', ?, "
            "'EDH-VALID', ?, ?, ?)",
            (
                (f"bench-day:{i}", merchant.id, 100 + i % 900, HOLD_TIMEOUT_S, at,
                 at + HOLD_TIMEOUT_S * 1_000_000, f"DZOR{1 + i % 25:04d}", 1 + i % 999_999,
                 DAY.isoformat())
                for i in range(count)
            ),
        )  # fmt: skip
        db.execute(
            "UPDATE accounts SET debits_pending = debits_pending + (SELECT SUM(amount) "
            "FROM transfers WHERE id LIKE 'bench-day:%') WHERE id = 'bench-funding'"
        )
        db.execute(
            "UPDATE accounts SET credits_pending = credits_pending + (SELECT SUM(amount) "
            "FROM transfers WHERE id LIKE 'bench-day:%') WHERE id = ?",
            (merchant.id,),
        )
        db.execute("COMMIT")
        db.executescript(schema)  # puts the two triggers back (IF NOT EXISTS: nothing else)
    finally:
        db.close()


async def run_ledger_bench(
    transfers: int = 100_000,
    batch: int = 5_000,
    settle: int = 1_000_000,
    workdir: Path | None = None,
) -> LedgerBench:
    """Run both phases on fresh ledgers under ``workdir`` (a temporary directory by default)."""
    root = workdir or Path(tempfile.mkdtemp(prefix="tpesim-bench-"))
    holds_s, posts_s = await _holds_and_posts(root / "holds.db", transfers, batch)
    day_db = root / "day.db"
    async with await Ledger.open(day_db, default_card_set(), ManualClock(START)):
        pass
    _bulk_load(day_db, settle)
    async with await Ledger.open(day_db, clock=ManualClock(START)) as ledger:
        started = time.perf_counter()
        plan = await settle_day(ledger, DAY, cards=default_card_set(), registry=default_registry())
        settle_s = time.perf_counter() - started
    if plan is None or sum(t.sales for t in plan.totals.values()) != settle:
        raise RuntimeError("the bench day did not settle every hold")
    started = time.perf_counter()
    report = check_ledger(day_db)
    check_s = time.perf_counter() - started
    return LedgerBench(
        transfers=transfers,
        batch=batch,
        holds_per_s=holds_s,
        posts_per_s=posts_s,
        holds_posts_per_s=2 / (1 / holds_s + 1 / posts_s),
        settle_transfers=settle,
        settle_s=settle_s,
        check_s=check_s,
        check_ok=report.ok,
        machine=_machine(),
    )
