"""The authorization engine: a pure function from a purchase request and facts to a decision.

No I/O: the purchase flow (switch.flows.purchases) gathers the facts (terminal, sign-on state,
card set, the cardholder's available balance and today's spending) and this module decides the
DE39 response code.
Checks run in the order a real acquirer/issuer pair applies them; the first failure decides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from cards.catalog import CardSet
from cards.currency import country, currency_by_numeric
from cards.fx import FxRates
from cards.luhn import luhn_is_valid
from cards.models import Card, CardProduct, CardStatus, FxAllowance
from switch.rules.abroad import abroad_refusal, billed_amount
from switch.rules.kinds import (
    CASH_BACK_PREFIX,
    PURCHASE,
    cash_back_of,
    is_balance_inquiry,
    is_refund,
    request_channel,
)
from switch.rules.refunds import RefundOriginal, refund_refusal
from switch.security.hsm import ArqcCheck, CvvCheck, PinCheck
from wire.magic import MagicAmounts
from wire.protocol.messages import FinancialRequest
from wire.registry import TerminalProfile

__all__ = [
    "CardholderPosition",
    "Decision",
    "authorize",
    "card_standing",
    "issuer_day",
]

_CARD_CODE_DECLINES: dict[CvvCheck, tuple[str, str]] = {
    CvvCheck.TRACK_MISSING: ("30", "DE35 missing"),
    CvvCheck.TRACK_MISMATCH: ("30", "DE35 differs from DE2"),
    CvvCheck.CVV2_MISSING: ("30", "DE48 (CVV2) missing"),
    CvvCheck.WRONG_CVV: ("05", "CVV mismatch"),
    CvvCheck.WRONG_CVV2: ("05", "CVV2 mismatch"),
}

_CHIP_DECLINES: dict[ArqcCheck, tuple[str, str]] = {
    ArqcCheck.MISSING: ("30", "DE55 missing (chip read)"),
    ArqcCheck.MALFORMED: ("30", "DE55 incomplete"),
    ArqcCheck.FAILED: ("05", "ARQC does not verify"),
}

_STATUS_CODES: dict[CardStatus, tuple[str, str]] = {
    CardStatus.LOST: ("41", "card reported lost"),
    CardStatus.STOLEN: ("43", "card reported stolen"),
    CardStatus.TEMPORARILY_BLOCKED: ("62", "card blocked"),
    CardStatus.NOT_ACTIVATED: ("62", "card not activated"),
    CardStatus.PIN_TRIES_EXCEEDED: ("75", "PIN tries exceeded"),
}


@dataclass(frozen=True, slots=True)
class CardholderPosition:
    """What the ledger says about a card right now, in minor units of its account currency."""

    available: int
    spent_today: int
    fx_spent: int = 0
    """What its foreign-currency payments took of its allowance's current period."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of an authorization: DE39 code, a short reason (≤25 chars, for DE44/logs),
    the issuer's card record when one was found, and whether to answer at all."""

    code: str
    reason: str
    card: Card | None = None
    respond: bool = True
    pin_failures: int | None = None
    """The card's new count of consecutive wrong PINs to record (None: unchanged)."""
    atc: int | None = None
    """The ATC of a verified ARQC, to record as the card's last (None: unchanged)."""
    stand_in: bool = False
    """Approved by the switch standing in for an unavailable issuer (STIP)."""
    billed: int | None = None
    """A payment abroad: DE4 converted into the card's currency, the amount checked (and, once
    approved, held); None at home."""

    @property
    def approved(self) -> bool:
        return self.code == "00"


def issuer_day(product: CardProduct, now: datetime) -> date:
    """The issuer's local calendar day at ``now``: the window of "daily" limits."""
    return now.astimezone(country(product.country).zone).date()


def card_standing(card: Card, product: CardProduct, now: datetime) -> tuple[str, str] | None:
    """Why ``card`` cannot pay at all, whatever the channel: (DE39, reason) for a lost,
    stolen, blocked or PIN-locked card (41, 43, 62, 75) or an expired one (54); None when it
    can."""
    status = _STATUS_CODES.get(card.status)
    if status is not None:
        return status
    if card.last_valid_day < issuer_day(product, now):
        return "54", "card expired"
    return None


def _transaction_check(request: FinancialRequest) -> Decision | None:
    """The processing code is one tpesim serves, and DE4/DE54 fit it; None when they do."""
    kind = request.processing_code[:2]
    if request.original_data is not None and not is_refund(request):
        return _decline("12", "DE90 only on a refund")
    if request.processing_code == PURCHASE or is_refund(request):
        return None if request.amount > 0 else _decline("13", "zero amount")
    if is_balance_inquiry(request):
        return None if request.amount == 0 else _decline("13", "inquiry with an amount")
    if request.mti == "0200" and kind == CASH_BACK_PREFIX:
        cash = cash_back_of(request)
        if cash is None:
            return _decline("13", "DE54 cash-back missing")
        if cash.currency != request.currency or not 0 < cash.amount < request.amount:
            return _decline("13", "cash-back not in DE4")
        return None
    return _decline("12", "unsupported proc. code")


def _decline(code: str, reason: str, card: Card | None = None) -> Decision:
    return Decision(code=code, reason=reason, card=card)


def authorize(
    request: FinancialRequest,
    *,
    terminal: TerminalProfile | None,
    signed_on: bool,
    cards: CardSet,
    position: CardholderPosition | None,
    now: datetime,
    magic: MagicAmounts | None = None,
    pin: PinCheck | None = None,
    pin_failures: int = 0,
    blocked: bool = False,
    arqc: ArqcCheck | None = None,
    atc: int | None = None,
    last_atc: int | None = None,
    cvv: CvvCheck | None = None,
    fx: FxRates | None = None,
    refund_original: RefundOriginal | None = None,
) -> Decision:
    """Decide a 0200 purchase. ``position`` is None only when the issuer has no such card.
    ``fx``: the exchange rates for a card paying in another currency than its account's.

    ``pin`` is the security module's verdict on DE52 (None: no PIN entered); ``pin_failures``
    the card's consecutive wrong PINs so far; ``blocked`` whether the issuer's back office
    blocked it (62 until unblocked). ``arqc`` is its verdict on DE55 (None: not a chip
    transaction), ``atc`` the counter of that cryptogram and ``last_atc`` the card's last one.
    ``cvv`` is its verdict on the card code of a magstripe or keyed entry (None: chip).
    ``refund_original``: for a refund naming its sale in DE90, what the ledger has of the sale
    (switch.rules.refunds); a refund is bounded by it, or by the merchant's unreferenced limit.
    """
    if terminal is None:
        return _decline("03", "unknown terminal")
    if not signed_on:
        return _decline("03", "terminal not signed on")
    if request.merchant_id != terminal.merchant.mid:
        return _decline("03", "merchant id mismatch")
    refused = _transaction_check(request)
    if refused is not None:
        return refused
    tx_currency = currency_by_numeric(request.currency)
    if tx_currency is None or tx_currency.code != terminal.currency.code:
        return _decline("13", "not terminal currency")

    if not luhn_is_valid(request.pan):
        return _decline("14", "Luhn check failed")
    product = cards.product_for_pan(request.pan)
    if product is None:
        return _decline("15", "no issuer for BIN")
    card = cards.issuer_card(request.pan)
    if card is None or position is None:
        return _decline("14", "card not on file")

    forced = magic.outcome(request.amount, tx_currency) if magic else None
    if forced is not None and forced.code is not None:
        return _decline(forced.code, "magic amount", card)

    decision = _card_checks(
        request,
        card=card,
        product=product,
        terminal=terminal,
        cards=cards,
        position=position,
        now=now,
        pin=pin,
        pin_failures=pin_failures,
        blocked=blocked,
        arqc=arqc,
        atc=atc,
        last_atc=last_atc,
        cvv=cvv,
        fx=fx,
        refund_original=refund_original,
    )
    if forced is not None and forced.no_response:
        return Decision(decision.code, "magic: no response", card, respond=False)
    return decision


def _card_checks(
    request: FinancialRequest,
    *,
    card: Card,
    product: CardProduct,
    terminal: TerminalProfile,
    cards: CardSet,
    position: CardholderPosition,
    now: datetime,
    pin: PinCheck | None,
    pin_failures: int,
    blocked: bool,
    arqc: ArqcCheck | None,
    atc: int | None,
    last_atc: int | None,
    cvv: CvvCheck | None,
    fx: FxRates | None,
    refund_original: RefundOriginal | None,
) -> Decision:
    """Is the card usable here, is it genuine, is it its holder, is there the money."""
    usable = _usability_checks(request, card=card, product=product, terminal=terminal,
                               cards=cards, now=now, pin_failures=pin_failures, blocked=blocked,
                               fx=fx)  # fmt: skip
    if usable is not None:
        return usable
    genuine = _CARD_CODE_DECLINES.get(cvv) if cvv is not None else None
    genuine = genuine or (_CHIP_DECLINES.get(arqc) if arqc is not None else None)
    if genuine is not None:
        return _decline(*genuine, card)
    if arqc is ArqcCheck.OK and atc is not None and last_atc is not None and atc <= last_atc:
        return _decline("05", "ATC replayed", card)
    account_currency = cards.accounts[card.account].currency
    abroad = account_currency != terminal.currency.code
    amount = billed_amount(request, account_currency, fx)
    decision = _cardholder_and_money(
        request, card=card, product=product, cards=cards, position=position, pin=pin,
        pin_failures=pin_failures, amount=amount,
        allowance=product.fx_allowance if abroad else None,
    )  # fmt: skip
    if abroad:
        decision = replace(decision, billed=amount)
    if is_refund(request) and decision.approved:
        limit = terminal.merchant.unreferenced_refund_max
        refused = refund_refusal(request.amount, card.id, refund_original, unreferenced_max=limit)
        if refused is not None:
            decision = replace(decision, code=refused[0], reason=refused[1])
    return replace(decision, atc=atc) if arqc is ArqcCheck.OK else decision


def _cardholder_and_money(
    request: FinancialRequest,
    *,
    card: Card,
    product: CardProduct,
    cards: CardSet,
    position: CardholderPosition,
    pin: PinCheck | None,
    pin_failures: int,
    amount: int,
    allowance: FxAllowance | None,
) -> Decision:
    """The PIN (55, then 75 at the product's limit), then limits and balance (``amount``: DE4
    in the card's currency; ``allowance``: the one a payment abroad draws on)."""
    if pin is PinCheck.UNREADABLE:
        return _decline("30", "PIN block unreadable", card)
    if pin is PinCheck.WRONG:
        failures = pin_failures + 1
        if failures >= product.pin_try_limit:
            return Decision("75", "PIN tries exceeded", card, pin_failures=failures)
        return Decision("55", "incorrect PIN", card, pin_failures=failures)
    decision = _money_checks(request, card=card, product=product, cards=cards,
                             position=position, amount=amount, allowance=allowance)  # fmt: skip
    if pin is PinCheck.OK and pin_failures:
        return replace(decision, pin_failures=0)  # a right PIN resets the count
    return decision


def _usability_checks(
    request: FinancialRequest,
    *,
    card: Card,
    product: CardProduct,
    terminal: TerminalProfile,
    cards: CardSet,
    now: datetime,
    pin_failures: int,
    blocked: bool,
    fx: FxRates | None,
) -> Decision | None:
    """Status (the card's, then its issuer's block), PIN tries left, expiry, country, channel
    and currency; None when all pass."""
    status = _STATUS_CODES.get(card.status)
    if status is not None:
        return _decline(*status, card)
    if blocked:
        return _decline("62", "blocked by issuer", card)
    if pin_failures >= product.pin_try_limit:
        return _decline("75", "PIN tries exceeded", card)
    if request.expiry != card.expiry_yymm:
        return _decline("54", "expiry mismatch", card)
    if card.last_valid_day < issuer_day(product, now):
        return _decline("54", "card expired", card)
    if product.domestic_only and terminal.country.code != product.country:
        return _decline("62", "domestic card abroad", card)
    channel = request_channel(request)
    if channel not in cards.channels(card):
        return _decline("57", f"{channel.value} not enabled", card)
    account_currency = cards.accounts[card.account].currency
    if account_currency != terminal.currency.code:
        sale = request.mti == "0200" and request.processing_code == PURCHASE
        kind = "inquiry" if is_balance_inquiry(request) else "sale" if sale else "other"
        refusal = abroad_refusal(request, product.fx_allowance, channel=channel,
                                 account_currency=account_currency, fx=fx, kind=kind)  # fmt: skip
        return None if refusal is None else _decline(*refusal, card)
    return None


def _money_checks(
    request: FinancialRequest,
    *,
    card: Card,
    product: CardProduct,
    cards: CardSet,
    position: CardholderPosition,
    amount: int,
    allowance: FxAllowance | None,
) -> Decision:
    """Amount limits of the channel (per transaction, per day), the foreign-currency
    ``allowance`` of a payment abroad, and the available balance, on ``amount`` (DE4 in the
    card's currency); a refund credits the cardholder and an inquiry moves nothing, so they
    need neither. Cash-back must be offered by the product, within its maximum; the whole of
    DE4 counts against the limits."""
    if is_refund(request):
        return Decision(code="00", reason="refund accepted", card=card)
    if is_balance_inquiry(request):
        return Decision(code="00", reason="balance given", card=card)
    cash = cash_back_of(request)
    if cash is not None and product.cash_back is None:
        return _decline("57", "no cash-back on card", card)
    if cash is not None and product.cash_back and cash.amount > product.cash_back.max_amount:
        return _decline("61", "over cash-back limit", card)
    channel = request_channel(request)
    limits = cards.limits(card, channel)
    if limits is None:
        return _decline("57", f"no {channel.value} limits", card)
    if amount < limits.min:
        return _decline("13", "below minimum amount", card)
    if amount > limits.per_transaction:
        return _decline("61", "over per-txn limit", card)
    if position.spent_today + amount > limits.daily:
        return _decline("61", "over daily limit", card)
    if allowance is not None and position.fx_spent + amount > allowance.amount:
        return _decline("61", "over FX allowance", card)
    if position.available < amount:
        return _decline("51", "insufficient funds", card)
    return Decision(code="00", reason="approved", card=card)
