"""Two-phase transfers, TigerBeetle style (pure): holds that are later posted, voided or expired.

The rules every ledger backend applies, with no I/O. An account keeps four cumulative counters
(debits/credits, pending/posted). A *pending* transfer reserves funds on both accounts; a *post*
moves all or part of it to posted (the rest is released); a *void* releases it; it *expires*
after its timeout on the switch clock. At most one transfer per id: replaying a request with the
same content returns its original result (a refusal stays a refusal), different content is a
conflict. Balance checks happen when the hold is made, so resolving one never breaks an invariant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

__all__ = [
    "TRANSITIONS",
    "AccountSpec",
    "Balances",
    "Book",
    "HoldState",
    "Outcome",
    "TransferRequest",
]


class HoldState(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


TRANSITIONS: dict[tuple[HoldState, str], HoldState] = {
    (HoldState.PENDING, "post"): HoldState.POSTED,
    (HoldState.PENDING, "void"): HoldState.VOIDED,
    (HoldState.PENDING, "expire"): HoldState.EXPIRED,
}
"""A hold resolves at most once: every other (state, action) pair is refused."""


class Outcome(StrEnum):
    """The result of applying one transfer request."""

    OK = "ok"
    EXISTS = "exists"
    """Same id, same content: already applied (the original outcome was OK)."""
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    ACCOUNT_NOT_FOUND = "account_not_found"
    ACCOUNTS_MUST_DIFFER = "accounts_must_differ"
    CURRENCY_MISMATCH = "currency_mismatch"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    EXCEEDS_CREDITS = "exceeds_credits"
    """The debit account may not go below zero (its flag) and lacks the funds."""
    PENDING_NOT_FOUND = "pending_not_found"
    PENDING_ALREADY_POSTED = "pending_already_posted"
    PENDING_ALREADY_VOIDED = "pending_already_voided"
    PENDING_EXPIRED = "pending_expired"
    EXCEEDS_PENDING_AMOUNT = "exceeds_pending_amount"


_RESOLVED = {
    HoldState.POSTED: Outcome.PENDING_ALREADY_POSTED,
    HoldState.VOIDED: Outcome.PENDING_ALREADY_VOIDED,
    HoldState.EXPIRED: Outcome.PENDING_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account's identity: one currency, and whether debits may never exceed credits."""

    id: str
    currency: str
    debits_must_not_exceed_credits: bool = False


@dataclass(frozen=True, slots=True)
class Balances:
    """The four cumulative counters of an account (minor units)."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def available(self) -> int:
        """What a credit-normal account can still spend: credits posted - all debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One request. ``kind``: ``single`` (posted at once), ``pending`` (a hold with a timeout),
    ``post`` / ``void`` (resolve ``pending_id``; ``amount`` 0 posts the whole hold)."""

    id: str
    kind: Literal["single", "pending", "post", "void"]
    debit: str = ""
    credit: str = ""
    amount: int = 0
    currency: str = ""
    pending_id: str = ""
    timeout_s: int = 0


@dataclass(frozen=True, slots=True)
class _Hold:
    request: TransferRequest
    state: HoldState
    deadline: float
    """Switch-clock seconds after which the hold expires (inf: no timeout)."""


class Book:
    """An in-memory two-phase ledger; the reference the storage backends must agree with."""

    def __init__(self, accounts: list[AccountSpec]) -> None:
        self.accounts = {a.id: a for a in accounts}
        self.balances = {a.id: Balances() for a in accounts}
        self.results: dict[str, tuple[TransferRequest, Outcome]] = {}
        self.holds: dict[str, _Hold] = {}

    def __repr__(self) -> str:
        return f"<Book {len(self.accounts)} accounts, {len(self.results)} transfers>"

    def apply(self, request: TransferRequest, now: float) -> Outcome:
        """Apply ``request`` at switch-clock time ``now`` (seconds); idempotent by id."""
        seen = self.results.get(request.id)
        if seen is not None:
            original, outcome = seen
            if original != request:
                return Outcome.EXISTS_WITH_DIFFERENT_FIELDS
            return Outcome.EXISTS if outcome is Outcome.OK else outcome
        self.expire(now)
        outcome = self._decide(request, now)
        self.results[request.id] = (request, outcome)
        return outcome

    def expire(self, now: float) -> list[str]:
        """Release every hold whose deadline has passed (in deadline order); their ids."""
        due = sorted(
            (hold.deadline, hold_id)
            for hold_id, hold in self.holds.items()
            if hold.state is HoldState.PENDING and hold.deadline <= now
        )
        for _, hold_id in due:
            self._release(hold_id, "expire")
        return [hold_id for _, hold_id in due]

    # -- rules ---------------------------------------------------------------------------

    def _decide(self, request: TransferRequest, now: float) -> Outcome:
        if request.kind in ("post", "void"):
            return self._resolve(request)
        refusal = self._validate(request)
        if refusal is not None:
            return refusal
        debit = self.accounts[request.debit]
        if (
            debit.debits_must_not_exceed_credits
            and self.balances[debit.id].available < request.amount
        ):
            return Outcome.EXCEEDS_CREDITS
        pending = request.kind == "pending"
        self._move(request.debit, request.credit, request.amount, pending=pending)
        if pending:
            deadline = now + request.timeout_s if request.timeout_s > 0 else float("inf")
            self.holds[request.id] = _Hold(request, HoldState.PENDING, deadline)
        return Outcome.OK

    def _validate(self, request: TransferRequest) -> Outcome | None:
        if request.debit not in self.accounts or request.credit not in self.accounts:
            return Outcome.ACCOUNT_NOT_FOUND
        if request.debit == request.credit:
            return Outcome.ACCOUNTS_MUST_DIFFER
        if request.amount <= 0:
            return Outcome.AMOUNT_MUST_BE_POSITIVE
        currencies = {self.accounts[request.debit].currency, self.accounts[request.credit].currency}
        if currencies != {request.currency}:
            return Outcome.CURRENCY_MISMATCH
        return None

    def _resolve(self, request: TransferRequest) -> Outcome:
        hold = self.holds.get(request.pending_id)
        if hold is None:
            return Outcome.PENDING_NOT_FOUND
        if hold.state is not HoldState.PENDING:
            return _RESOLVED[hold.state]
        amount = request.amount or hold.request.amount
        if request.kind == "post" and amount < 0:
            return Outcome.AMOUNT_MUST_BE_POSITIVE
        if request.kind == "post" and amount > hold.request.amount:
            return Outcome.EXCEEDS_PENDING_AMOUNT
        self._release(request.pending_id, request.kind)
        if request.kind == "post":
            original = hold.request
            self._move(original.debit, original.credit, amount, pending=False)
        return Outcome.OK

    def _release(self, hold_id: str, action: str) -> None:
        hold = self.holds[hold_id]
        self.holds[hold_id] = replace(hold, state=TRANSITIONS[(hold.state, action)])
        original = hold.request
        self._move(original.debit, original.credit, -original.amount, pending=True)

    def _move(self, debit: str, credit: str, amount: int, *, pending: bool) -> None:
        d, c = self.balances[debit], self.balances[credit]
        if pending:
            self.balances[debit] = replace(d, debits_pending=d.debits_pending + amount)
            self.balances[credit] = replace(c, credits_pending=c.credits_pending + amount)
        else:
            self.balances[debit] = replace(d, debits_posted=d.debits_posted + amount)
            self.balances[credit] = replace(c, credits_posted=c.credits_posted + amount)

    # -- invariants ----------------------------------------------------------------------

    def violations(self) -> list[str]:
        """Every broken invariant (empty when the book is sound)."""
        problems = []
        for currency in {a.currency for a in self.accounts.values()}:
            totals = [self.balances[a.id] for a in self.accounts.values() if a.currency == currency]
            if sum(b.debits_posted for b in totals) != sum(b.credits_posted for b in totals):
                problems.append(f"{currency}: posted debits != posted credits")
            if sum(b.debits_pending for b in totals) != sum(b.credits_pending for b in totals):
                problems.append(f"{currency}: pending debits != pending credits")
        for account in self.accounts.values():
            balance = self.balances[account.id]
            if min(balance.debits_pending, balance.credits_pending) < 0:
                problems.append(f"{account.id}: negative pending counter")
            if account.debits_must_not_exceed_credits and balance.available < 0:
                problems.append(f"{account.id}: debits exceed credits")
        return problems
