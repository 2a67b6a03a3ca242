"""Stand-in processing (STIP): deciding for an issuer that is down or too slow, and replaying
the stand-in approvals to it once it is back.

While an issuer is unavailable the switch still runs every check it can make itself: terminal,
card status as it has it on file (the cached status), expiry, PIN, cryptogram, card code, the
product's limits. It cannot see the cardholder's balance, so it bounds its risk with the
product's stand-in rules instead (largest sale; count and total per card per issuer day). A
stand-in approval is held on the issuer's stand-in account and queued as an 0120 advice; the
replay trues it up (``switch.ledger.standin``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Any

from cards.catalog import CardSet
from cards.models import Card, StandIn
from switch.ledger.errors import InsufficientFundsError
from switch.ledger.postings import Key, business_day, card_hold, fx_leg
from switch.ledger.rules import (
    LedgerAccount,
    Phase,
    Transfer,
    TransferKind,
    fx_account,
    merchant_account,
)
from switch.ledger.standin import (
    StandInAdvice,
    TrueUp,
    refund_of_true_up,
    standin_account,
    true_up,
)
from switch.ledger.where import AnyLedger
from switch.rules.authorization import Decision, issuer_day

__all__ = [
    "SaleHold",
    "replay_advice",
    "replay_advices",
    "sale_hold",
    "stand_in",
    "true_up_refunds",
]

log = logging.getLogger("switch.flows.standin")

UNAVAILABLE = "91"


def stand_in(
    decision: Decision, *, amount: int, rules: StandIn | None, usage: tuple[int, int]
) -> Decision:
    """The stand-in verdict on a sale the switch's own checks gave ``decision``: its declines
    stand; an approval stands only within ``rules`` given the card's stand-in ``usage`` today
    (count, total); otherwise 91 (issuer unavailable)."""
    if not decision.approved:
        return decision
    count, total = usage
    if rules is None:
        reason = "issuer unavailable"
    elif amount > rules.max_amount:
        reason = "above stand-in amount"
    elif count + 1 > rules.daily_count:
        reason = "stand-in count reached"
    elif total + amount > rules.daily_amount:
        reason = "stand-in total reached"
    else:
        return replace(decision, reason="stand-in approval", stand_in=True)
    return replace(decision, code=UNAVAILABLE, reason=reason)


@dataclass(frozen=True)
class SaleHold:
    """The hold of an approved card sale, the accounts it needs, (held on the issuer's
    stand-in account) the advice queued with it, and (paid in another currency than the
    card's) the merchant's leg of the exchange."""

    hold: Transfer
    accounts: list[LedgerAccount]
    advice: StandInAdvice | None = None
    fx_leg: Transfer | None = None

    @property
    def transfers(self) -> list[Transfer]:
        """What to commit: the hold, then the merchant's leg if any."""
        return [self.hold] if self.fx_leg is None else [self.hold, self.fx_leg]

    def rows(self, now: datetime) -> list[tuple[str, tuple[Any, ...]]]:
        """The rows to store with the hold: its advice, if any."""
        stamp = now.isoformat(timespec="microseconds")
        return [self.advice.row(stamp)] if self.advice else []


def sale_hold(
    kind: TransferKind,
    *,
    key: Key,
    card: Card,
    cards: CardSet,
    merchant_id: str,
    amount: int,
    rrn: str,
    now: datetime,
    timezone: str,
    cutoff: time,
    on_standin: bool,
    paid: tuple[int, str] | None = None,
) -> SaleHold:
    """Hold ``amount`` (the card's currency) of an approved sale on ``card``: on the
    cardholder's account, or, with ``on_standin``, on its issuer's stand-in account with an
    advice to true it up later. ``paid``: (amount, currency) the merchant is paid when its
    currency is not the card's; the hold then credits the exchange desk, which pays the
    merchant in a second leg."""
    product = cards.products[card.product]
    currency = cards.accounts[card.account].currency
    merchant = merchant_account(merchant_id, currency if paid is None else paid[1])
    accounts = [merchant]
    credited = merchant.id
    if paid is not None:
        desks = [fx_account(currency), fx_account(paid[1])]
        accounts += desks
        credited = desks[0].id
    debited = card.account
    if on_standin:
        standin = standin_account(product.issuer, currency)
        accounts.append(standin)
        debited = standin.id
    day = issuer_day(product, now)
    hold = card_hold(
        kind,
        key=key,
        card_id=card.id,
        cardholder_account=debited,
        merchant_account=credited,
        amount=amount,
        currency=currency,
        issuer_day=day,
        business_day=business_day(timezone, now, cutoff),
        rrn=rrn,
    )
    advice = None
    if on_standin:
        advice = StandInAdvice(hold.id, product.issuer, card.id, card.account, amount, day)
    leg = None
    if paid is not None:
        leg = fx_leg(hold, merchant_account=merchant.id, amount=paid[0], currency=paid[1])
    return SaleHold(hold, accounts, advice, leg)


async def replay_advice(ledger: AnyLedger, advice: StandInAdvice, now: datetime) -> bool:
    """True-up one advice in one transaction; False when the hold has gone (voided or
    expired before the issuer heard of it: nothing to true up, the advice is closed)."""
    hold = await ledger.transfer(advice.hold_id)
    if hold is None:
        raise RuntimeError(f"stand-in advice for missing hold {advice.hold_id}")
    resolution = await ledger.resolution_of(hold.id)
    stamp = now.isoformat(timespec="microseconds")
    gone = resolution is not None and resolution.phase in (Phase.VOID, Phase.EXPIRE)
    corrected = await ledger.transfer(f"reversal:{hold.id}")
    if gone or corrected is not None:
        await ledger.post([], rows=[TrueUp(0, 0).row(hold.id, stamp)])
        return False
    for _ in range(3):  # a sale on the same account may take the money meanwhile: look again
        available = await ledger.available(advice.account)
        outcome, transfers = true_up(advice, hold, available)
        try:
            await ledger.post(transfers, rows=[outcome.row(hold.id, stamp)])
        except InsufficientFundsError:
            continue
        log.info("0120 advice %s replayed to %s: %d from the cardholder, %d shortfall",
                 hold.id, advice.issuer, outcome.trued, outcome.shortfall)  # fmt: skip
        return True
    raise RuntimeError(f"stand-in advice {hold.id}: the account kept changing")


async def replay_advices(ledger: AnyLedger, issuer: str | None, now: datetime) -> int:
    """Replay every queued 0120 advice of ``issuer`` (None: of every issuer), oldest first;
    how many were trued up."""
    trued = 0
    for advice in await ledger.standin_queue(issuer):
        trued += await replay_advice(ledger, advice, now)
    return trued


async def true_up_refunds(ledger: AnyLedger, reversal: Transfer) -> list[Transfer]:
    """What a reversal of a stand-in hold gives back once its advice was trued up: the
    cardholder's and the issuer's shares (nothing before the replay, nothing for other holds)."""
    hold_id = reversal.pending_id or reversal.id.removeprefix("reversal:")
    found = await ledger.standin_advice(hold_id)
    hold = await ledger.transfer(hold_id)
    if found is None or hold is None:
        return []
    advice, outcome = found
    return [] if outcome is None else refund_of_true_up(advice, hold, outcome)
