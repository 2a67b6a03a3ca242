"""The SQLite ledger against the reference model: Hypothesis drives random holds, posts (full,
partial, too large), voids (reversals), expiries, refunds, replays and conflicting reuses of an
id through the real database; every outcome and every balance must match the pure book, and
the invariant checker must find nothing."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import invariant

from switch.clock import ManualClock
from switch.ledger import (
    AccountKind,
    Ledger,
    LedgerAccount,
    Outcome,
    Transfer,
    TransferKind,
    TransferRequest,
)
from switch.ledger.check import check_connection
from tests.unit.test_twophase import ACCOUNTS, TwoPhaseMachine

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

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="tpesim-ledger-"))
        self.clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
        self.ledger = self.loop.run_until_complete(
            Ledger.open(self.dir / "ledger.db", clock=self.clock)
        )
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
        db = sqlite3.connect(self.dir / "ledger.db")
        try:
            report = check_connection(db)
        finally:
            db.close()
        assert report.ok, report.render()

    def teardown(self) -> None:
        try:
            self._check()
        finally:
            self.loop.run_until_complete(self.ledger.close())
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)


StoreMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_sqlite_ledger_agrees_with_the_model = StoreMachine.TestCase
