"""The ledger against the reference model, on SQLite and on PostgreSQL: Hypothesis drives random
holds, posts (full, partial, too large), voids (reversals), expiries, refunds, replays and
conflicting reuses of an id through the real database; every outcome and every balance must
match the pure book, and the invariant checker must find nothing."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from switch.ledger import (
    AccountKind,
    Balances,
    Ledger,
    LedgerAccount,
    Outcome,
    Transfer,
    TransferKind,
    TransferRequest,
    check_ledger,
)
from tests.ledgers import make_backend
from tests.unit.ledger.test_twophase import ACCOUNTS, CARDS, RESOLUTIONS, ModelHold, TwoPhaseMachine
from wire.clock import ManualClock

KINDS = {
    "single": TransferKind.OPENING,
    "pending": TransferKind.PURCHASE,
    "post": TransferKind.COMPLETION,
    "void": TransferKind.REVERSAL,
}
_ACCOUNT_KINDS = {
    "merchant": AccountKind.MERCHANT,
    "funding": AccountKind.ISSUER,
}


def store_accounts() -> list[LedgerAccount]:
    return [
        LedgerAccount(
            spec.id,
            _ACCOUNT_KINDS.get(spec.id, AccountKind.CARDHOLDER),
            spec.currency,
            f"participant:{spec.id}",
        )
        for spec in ACCOUNTS
    ]


class StoreMachine(TwoPhaseMachine):
    """The two-phase machine, with the SQLite ledger as the system under test."""

    BACKEND = "sqlite"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="tpesim-ledger-"))
        self.clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
        self._backend = make_backend(self.BACKEND, self.dir)
        self.backend = next(self._backend)
        self._opened = self.backend.open(clock=self.clock)
        self.ledger = self.loop.run_until_complete(self._opened.__aenter__())
        self.loop.run_until_complete(self.ledger.apply([], accounts=store_accounts()))
        self.steps = 0
        super().__init__()

    def _apply(self, request: TransferRequest) -> Outcome:
        expected = self.book.apply(request, self.now)
        transfer = Transfer.from_request(request, KINDS[request.kind])
        (outcome,) = self.loop.run_until_complete(self.ledger.apply([transfer]))
        assert outcome is expected, (request, outcome, expected)
        return outcome

    def _advance(self, seconds: int) -> None:
        super()._advance(seconds)
        self.clock.advance(seconds)
        self.loop.run_until_complete(self.ledger.expire_due())

    @invariant()
    def store_agrees_with_the_book(self) -> None:
        for spec in ACCOUNTS:
            stored = self.loop.run_until_complete(self.ledger.balances(spec.id))
            assert stored == self.book.balances[spec.id], spec.id
        self.steps += 1
        if self.steps % 8 == 0:
            self._check()

    def _check(self) -> None:
        report = self.loop.run_until_complete(self.backend.check())
        assert report.ok, report.render()

    def teardown(self) -> None:
        try:
            self._check()
        finally:
            self.loop.run_until_complete(self._opened.__aexit__(None, None, None))
            self.loop.close()
            self._backend.close()
            shutil.rmtree(self.dir, ignore_errors=True)


StoreMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_sqlite_ledger_agrees_with_the_model = StoreMachine.TestCase


class PgStoreMachine(StoreMachine):
    """The same, with the PostgreSQL ledger as the system under test."""

    BACKEND = "postgresql"


PgStoreMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
test_postgresql_ledger_agrees_with_the_model = PgStoreMachine.TestCase


class BatchedStoreMachine(StoreMachine):
    """The same, plus batches applied in one call: set-based when every transfer passes, row by
    row otherwise; either way the outcomes must be the book's, in order."""

    def __init__(self) -> None:
        super().__init__()
        if isinstance(self.ledger, Ledger):
            self.ledger.batch_min = 2

    @rule(data=st.data(), size=st.integers(2, 6), resolving=st.booleans())
    def batch(self, data: st.DataObject, size: int, resolving: bool) -> None:
        self._expire_model()
        requests = []
        pending = sorted(h for h, hold in self.holds.items() if hold.state == "pending")
        if resolving and pending:
            # Mostly distinct pending holds (a batch that can go set-based), now and then any.
            choices = st.sampled_from(sorted(self.holds)) if data.draw(st.booleans()) else None
            targets = data.draw(
                st.lists(st.sampled_from(pending), min_size=1, max_size=size, unique=True)
            )
            if choices is not None and data.draw(st.booleans()):
                targets.append(data.draw(choices))
            for hold_id in targets:
                kind = data.draw(st.sampled_from(RESOLUTIONS))
                quarters = data.draw(st.sampled_from([0, 1, 2, 4, 4, 5]))  # 5/4: above the hold
                amount = self.holds[hold_id].amount * quarters // 4
                requests.append(
                    TransferRequest(self._id(), kind, amount=amount, pending_id=hold_id)
                )
        else:
            for _ in range(size):
                card = data.draw(st.sampled_from(CARDS))
                amount = data.draw(st.integers(1, 30_000))
                timeout = data.draw(st.sampled_from([0, 5, 30]))
                requests.append(TransferRequest(self._id(), "pending", card, "merchant", amount,
                                                "DZD", timeout_s=timeout))  # fmt: skip
        expected = [self.book.apply(request, self.now) for request in requests]
        transfers = [Transfer.from_request(r, KINDS[r.kind]) for r in requests]
        outcomes = self.loop.run_until_complete(self.ledger.apply(transfers))
        assert outcomes == expected, (requests, outcomes, expected)
        for request, outcome in zip(requests, expected, strict=True):
            self.history.append((request, outcome))
            if outcome is not Outcome.OK:
                continue
            if request.kind == "pending":
                deadline = self.now + request.timeout_s if request.timeout_s else float("inf")
                self.holds[request.id] = ModelHold(request.debit, request.amount, deadline)
            else:
                self.holds[request.pending_id].state = (
                    "posted" if request.kind == "post" else "voided"
                )
        for card in CARDS:
            self.available[card] = self.book.balances[card].available


BatchedStoreMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None
)
test_batches_agree_with_the_model = BatchedStoreMachine.TestCase


class PgBatchedStoreMachine(BatchedStoreMachine):
    """Batches on PostgreSQL (applied row by row there, with the same outcomes)."""

    BACKEND = "postgresql"


PgBatchedStoreMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None
)
test_postgresql_batches_agree_with_the_model = PgBatchedStoreMachine.TestCase


async def test_a_clean_batch_goes_set_based_and_a_refusal_row_by_row(tmp_path: Path) -> None:
    """100 holds that all pass are written set-based (batch = 1); a batch with one overdraft
    goes row by row and refuses exactly that one."""
    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    async with await Ledger.open(tmp_path / "ledger.db", clock=clock) as ledger:
        await ledger.apply(
            [Transfer.from_request(TransferRequest("fund", "single", "funding", "card-a",
                                                   1_000_000, "DZD"), TransferKind.OPENING)],
            accounts=store_accounts(),
        )  # fmt: skip
        holds = [
            Transfer.from_request(TransferRequest(f"h{i}", "pending", "card-a", "merchant", 100,
                                                  "DZD", timeout_s=60), TransferKind.PURCHASE)
            for i in range(100)
        ]  # fmt: skip
        assert await ledger.apply(holds) == [Outcome.OK] * 100
        posts = [
            Transfer.from_request(TransferRequest(f"p{i}", "post", amount=60,
                                                  pending_id=f"h{i}"), TransferKind.COMPLETION)
            for i in range(100)
        ]  # fmt: skip
        assert await ledger.apply(posts) == [Outcome.OK] * 100
        mixed = [
            Transfer.from_request(TransferRequest(f"m{i}", "pending", "card-a", "merchant",
                                                  2_000_000 if i == 70 else 10, "DZD"),
                                  TransferKind.PURCHASE)
            for i in range(100)
        ]  # fmt: skip
        outcomes = await ledger.apply(mixed)
        assert outcomes[70] is Outcome.EXCEEDS_CREDITS
        assert outcomes.count(Outcome.OK) == 99
        balances = await ledger.balances("card-a")
        assert balances == Balances(990, 6_000, 0, 1_000_000)
    db = sqlite3.connect(tmp_path / "ledger.db")
    try:
        batched = db.execute("SELECT COUNT(*) FROM transfers WHERE batch = 1").fetchone()[0]
    finally:
        db.close()
    assert batched == 200
    assert check_ledger(tmp_path / "ledger.db").ok
