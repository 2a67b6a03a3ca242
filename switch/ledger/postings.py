"""Which transfers the card flows make (pure): holds, completions, refunds and reversals.

An approved 0200 purchase holds the amount on the cardholder's account (cardholder → merchant)
until day's-end clearing posts it; an 0100 pre-authorization holds until an 0220 completion
posts all or part of it; a refund (0200, processing code 20) holds merchant → cardholder until
clearing; a reversal voids the original's hold, or, once it has been cleared, is a correcting
transfer back. Every transfer id derives from the request's idempotency key.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from switch.ledger.rules import (
    HOLD_TIMEOUT_S,
    Phase,
    Transfer,
    TransferKind,
    fx_account,
    fx_leg_id,
)

__all__ = [
    "HOLD_KINDS",
    "MIDNIGHT",
    "Key",
    "business_day",
    "card_hold",
    "completion_post",
    "fx_leg",
    "hold_id",
    "preauth_hold",
    "purchase_hold",
    "qr_payment",
    "refund_hold",
    "reversal_of_hold",
]

Key = tuple[str, int, str]
MIDNIGHT = time(0, 0)


def business_day(timezone: str, now: datetime, cutoff: time = MIDNIGHT) -> date:
    """The settlement day of a transaction the switch sees at ``now``: the terminal's local
    date in ``timezone``, moved to the next day from the ``cutoff`` local time onwards."""
    local = now.astimezone(ZoneInfo(timezone))
    if cutoff != MIDNIGHT and local.time() >= cutoff:
        return local.date() + timedelta(days=1)
    return local.date()


def hold_id(kind: TransferKind, key: Key) -> str:
    """The id of the transfer of ``kind`` the request with ``key`` makes (unique per request):
    its hold, or a QR payment's posting."""
    tid, stan, transmission_time = key
    return f"{kind.value}:{tid}:{stan:06d}:{transmission_time}"


def _card_transfer(
    kind: TransferKind,
    phase: Phase,
    *,
    key: Key,
    debit_account: str,
    credit_account: str,
    card_id: str,
    amount: int,
    currency: str,
    issuer_day: date,
    business_day: date,
    rrn: str,
    timeout_s: int = 0,
) -> Transfer:
    """The transfer of ``kind`` a card request with ``key`` makes, named by :func:`hold_id`."""
    tid, stan, transmission_time = key
    return Transfer(
        id=hold_id(kind, key),
        kind=kind,
        phase=phase,
        debit_account=debit_account,
        credit_account=credit_account,
        amount=amount,
        currency=currency,
        timeout_s=timeout_s,
        card_id=card_id,
        tid=tid,
        stan=stan,
        transmission_time=transmission_time,
        issuer_day=issuer_day,
        business_day=business_day,
        rrn=rrn,
    )


def card_hold(
    kind: TransferKind,
    *,
    key: Key,
    card_id: str,
    cardholder_account: str,
    merchant_account: str,
    amount: int,
    currency: str,
    issuer_day: date,
    business_day: date,
    rrn: str,
) -> Transfer:
    """The hold an approved card request makes: cardholder → merchant for a ``purchase``
    (until clearing) or a ``preauth`` (until completed); merchant → cardholder for a ``refund``
    (until clearing: the cardholder sees the money once it is cleared)."""
    if kind not in HOLD_KINDS:
        raise ValueError(f"{kind} is not a card hold")
    refund = kind is TransferKind.REFUND
    return _card_transfer(
        kind, Phase.PENDING, key=key, card_id=card_id, amount=amount, currency=currency,
        debit_account=merchant_account if refund else cardholder_account,
        credit_account=cardholder_account if refund else merchant_account,
        issuer_day=issuer_day, business_day=business_day, rrn=rrn, timeout_s=HOLD_TIMEOUT_S,
    )  # fmt: skip


def fx_leg(hold: Transfer, *, merchant_account: str, amount: int, currency: str) -> Transfer:
    """The merchant's leg of the foreign-currency purchase ``hold`` (cardholder → the exchange
    desk, in the card's currency): desk → merchant, ``amount`` of the merchant's ``currency``,
    held as long and resolved with it (switch.ledger.rules.TransferKind.FX)."""
    return replace(
        hold,
        id=fx_leg_id(hold.id),
        kind=TransferKind.FX,
        debit_account=fx_account(currency).id,
        credit_account=merchant_account,
        amount=amount,
        currency=currency,
    )


HOLD_KINDS = (TransferKind.PURCHASE, TransferKind.PREAUTH, TransferKind.REFUND)
purchase_hold = partial(card_hold, TransferKind.PURCHASE)
preauth_hold = partial(card_hold, TransferKind.PREAUTH)
refund_hold = partial(card_hold, TransferKind.REFUND)


def qr_payment(
    *,
    key: Key,
    card_id: str,
    cardholder_account: str,
    merchant_account: str,
    amount: int,
    currency: str,
    issuer_day: date,
    business_day: date,
    rrn: str,
) -> Transfer:
    """A QR payment: account to account, cardholder → merchant, posted at once (no hold, no
    clearing: the money has moved when the wallet is answered)."""
    return _card_transfer(
        TransferKind.QR, Phase.SINGLE, key=key, card_id=card_id, amount=amount,
        currency=currency, debit_account=cardholder_account, credit_account=merchant_account,
        issuer_day=issuer_day, business_day=business_day, rrn=rrn,
    )  # fmt: skip


def completion_post(hold: Transfer, *, key: Key, amount: int, business_day: date) -> Transfer:
    """An 0220 completion: post ``amount`` (at most the hold) of a pre-authorization; the rest
    goes back to the cardholder."""
    tid, stan, transmission_time = key
    return Transfer(
        id=f"completion:{hold.id}",
        kind=TransferKind.COMPLETION,
        phase=Phase.POST,
        debit_account=hold.debit_account,
        credit_account=hold.credit_account,
        amount=amount,
        currency=hold.currency,
        pending_id=hold.id,
        card_id=hold.card_id,
        tid=tid,
        stan=stan,
        transmission_time=transmission_time,
        issuer_day=hold.issuer_day,
        business_day=business_day,
        rrn=hold.rrn,
    )


def reversal_of_hold(hold: Transfer, resolution: Transfer | None, *, key: Key) -> Transfer:
    """What a reversal of ``hold`` makes: a void while it is pending; once posted
    (``resolution``), a correcting transfer of the posted amount back."""
    if resolution is not None and resolution.phase is not Phase.POST:
        raise ValueError(f"hold {hold.id} is already {resolution.phase}; nothing to reverse")
    tid, stan, transmission_time = key
    posted = resolution is not None
    return Transfer(
        id=f"reversal:{hold.id}",
        kind=TransferKind.REVERSAL,
        phase=Phase.SINGLE if posted else Phase.VOID,
        debit_account=hold.credit_account if posted else hold.debit_account,
        credit_account=hold.debit_account if posted else hold.credit_account,
        amount=resolution.amount if resolution else hold.amount,
        currency=hold.currency,
        pending_id=None if posted else hold.id,
        card_id=hold.card_id,
        tid=tid,
        stan=stan,
        transmission_time=transmission_time,
        issuer_day=hold.issuer_day,
        business_day=hold.business_day,
        rrn=hold.rrn,
    )
