"""Stand-in processing in the ledger (pure): the stand-in account, the 0120 advice a stand-in
approval queues, and the transfers that true it up once the issuer is back.

A stand-in approval holds the sale on the issuer's *stand-in account* (``standin:{issuer}:{cur}``)
instead of the cardholder's, since the switch cannot see the cardholder's balance; clearing pays
the merchant from it as from any hold. Replaying the advice, the issuer moves what the cardholder
has (at most the amount) from the cardholder's account, and the rest from its own funding
account, into the stand-in account, which the sale then nets to zero. A reversal after the
true-up gives both back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from switch.ledger.rules import (
    AccountKind,
    LedgerAccount,
    Phase,
    Transfer,
    TransferKind,
    issuer_account_id,
)

__all__ = [
    "ADVICE_INSERT",
    "REPLAY_INSERT",
    "StandInAdvice",
    "TrueUp",
    "refund_of_true_up",
    "standin_account",
    "true_up",
]

ADVICE_INSERT = "INSERT INTO standin_advices VALUES (?, ?, ?, ?, ?, ?, ?)"
REPLAY_INSERT = "INSERT INTO standin_replays VALUES (?, ?, ?, ?)"
Row = tuple[str, tuple[Any, ...]]


def standin_account(issuer: str, currency: str) -> LedgerAccount:
    """The account stand-in approvals for ``issuer`` are held on (the issuer's, in settlement)."""
    return LedgerAccount(
        f"standin:{issuer}:{currency}", AccountKind.ISSUER, currency, f"issuer:{issuer}"
    )


@dataclass(frozen=True, slots=True)
class StandInAdvice:
    """An 0120 advice: the switch approved ``amount`` on ``card_id`` for ``issuer`` (its hold is
    ``hold_id``); the cardholder's account is ``account``."""

    hold_id: str
    issuer: str
    card_id: str
    account: str
    amount: int
    issuer_day: date

    def row(self, queued_at: str) -> Row:
        """The ``standin_advices`` row that queues it."""
        return ADVICE_INSERT, (self.hold_id, self.issuer, self.card_id, self.account,
                               self.amount, self.issuer_day.isoformat(), queued_at)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TrueUp:
    """How a replayed advice was trued up: from the cardholder, and from the issuer's funds."""

    trued: int
    shortfall: int

    def row(self, hold_id: str, replayed_at: str) -> Row:
        return REPLAY_INSERT, (hold_id, self.trued, self.shortfall, replayed_at)


def _move(hold: Transfer, suffix: str, debit: str, credit: str, amount: int) -> Transfer:
    return Transfer(
        id=f"true_up{suffix}:{hold.id}",
        kind=TransferKind.TRUE_UP,
        phase=Phase.SINGLE,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        currency=hold.currency,
        card_id=hold.card_id,
        tid=hold.tid,
        stan=hold.stan,
        transmission_time=hold.transmission_time,
        issuer_day=hold.issuer_day,
        business_day=hold.business_day,
        rrn=hold.rrn,
    )


def true_up(advice: StandInAdvice, hold: Transfer, available: int) -> tuple[TrueUp, list[Transfer]]:
    """The issuer posts ``advice`` (its stand-in ``hold`` still standing): the cardholder pays
    what is ``available`` on the account, up to the amount; the issuer pays the shortfall."""
    trued = max(0, min(available, advice.amount))
    outcome = TrueUp(trued, advice.amount - trued)
    funding = issuer_account_id(advice.issuer, hold.currency)
    transfers = []
    if outcome.trued:
        transfers.append(_move(hold, "", advice.account, hold.debit_account, outcome.trued))
    if outcome.shortfall:
        transfers.append(_move(hold, "_shortfall", funding, hold.debit_account, outcome.shortfall))
    return outcome, transfers


def refund_of_true_up(advice: StandInAdvice, hold: Transfer, outcome: TrueUp) -> list[Transfer]:
    """A stand-in sale reversed after its true-up: the cardholder and the issuer get back what
    each paid."""
    funding = issuer_account_id(advice.issuer, hold.currency)
    transfers = []
    if outcome.trued:
        transfers.append(_move(hold, "_refund", hold.debit_account, advice.account, outcome.trued))
    if outcome.shortfall:
        transfers.append(
            _move(hold, "_shortfall_refund", hold.debit_account, funding, outcome.shortfall)
        )
    return transfers
