"""The authorization engine at its edges, found by ``scripts/mutate switch/rules/authorization.py``:
each limit at the limit and one unit over, expiry on its last valid day and the day after, the
standing of a card (as QR payments ask it), cash-back amounts, a card the issuer has not on
file, and a refund's own bound never applied to a purchase."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from cards import Card, CardStatus, Channel
from cards.fx import default_fx_rates
from switch import CardholderPosition, authorize
from switch.rules.abroad import billed_amount
from switch.rules.authorization import card_standing, issuer_day
from switch.security import CvvCheck, PinCheck
from tests.unit.switch.test_authorization import ALGIERS, CARDS, NOW, RICH, purchase
from wire import TerminalProfile, default_registry
from wire.protocol import FinancialRequest

FX = default_fx_rates()
WEB_SHOP = default_registry().get("FRWB0001")
assert WEB_SHOP is not None
DAILY = 20_000_000
"""Edahabia's POS daily and per-transaction limit (minor units)."""
CASH_BACK_MAX = 2_000_000
"""Edahabia's cash-back maximum (minor units)."""


def _decide(
    request: FinancialRequest,
    position: CardholderPosition = RICH,
    *,
    terminal: TerminalProfile = ALGIERS,
    now: datetime = NOW,
    **facts: object,
) -> tuple[str, str]:
    decision = authorize(request, terminal=terminal, signed_on=True, cards=CARDS,
                         position=position, now=now, fx=FX, **facts)  # type: ignore[arg-type]  # fmt: skip
    return decision.code, decision.reason


def _luhn_valid(prefix: str) -> str:
    """``prefix`` completed with its Luhn check digit."""
    total = 0
    for index, digit in enumerate(reversed(prefix)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return prefix + str((10 - total % 10) % 10)


def test_a_card_of_a_known_bin_not_on_the_issuers_file_is_14() -> None:
    pan = _luhn_valid(CARDS.card("EDH-VALID").pan[:8] + "9999999")
    assert CARDS.issuer_card(pan) is None and CARDS.product_for_pan(pan) is not None
    assert _decide(purchase("EDH-VALID", pan=pan)) == ("14", "card not on file")
    decision = authorize(purchase("EDH-VALID"), terminal=ALGIERS, signed_on=True, cards=CARDS,
                         position=None, now=NOW)  # fmt: skip
    assert (decision.code, decision.reason) == ("14", "card not on file")


def test_a_pan_failing_luhn_is_14_before_its_bin_is_looked_up() -> None:
    pan = CARDS.card("EDH-VALID").pan
    bad = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    assert _decide(purchase("EDH-VALID", pan=bad)) == ("14", "Luhn check failed")


@pytest.mark.parametrize(
    ("daily_spent", "amount", "expected"),
    [(DAILY - 5_000, 5_000, ("00", "approved")), (DAILY - 4_999, 5_000, ("61", "over daily limit")),
     (0, DAILY, ("00", "approved")), (0, DAILY + 1, ("61", "over per-txn limit")),
     (0, 1_000, ("00", "approved")), (0, 999, ("13", "below minimum amount"))],
)  # fmt: skip
def test_each_pos_limit_at_the_limit_and_one_unit_over(
    daily_spent: int, amount: int, expected: tuple[str, str]
) -> None:
    position = CardholderPosition(available=10**10, spent_today=daily_spent)
    assert _decide(purchase("EDH-VALID", amount), position) == expected


def test_the_balance_at_the_amount_and_one_unit_short() -> None:
    assert _decide(purchase("EDH-VALID", 5_000), CardholderPosition(5_000, 0))[0] == "00"
    assert _decide(purchase("EDH-VALID", 5_000), CardholderPosition(4_999, 0)) == (
        "51", "insufficient funds")  # fmt: skip


def _cash_back(amount: int, cash: int, currency: str = "012") -> FinancialRequest:
    return purchase("EDH-VALID", amount + cash, processing_code="090000",
                    additional_amounts=f"0040{currency}C{cash:012d}")  # fmt: skip


@pytest.mark.parametrize(
    ("goods", "cash", "expected"),
    [(5_000, 0, ("13", "cash-back not in DE4")), (5_000, 1, ("00", "approved")),
     (1, 5_000, ("00", "approved")), (0, 5_000, ("13", "cash-back not in DE4")),
     (5_000, CASH_BACK_MAX, ("00", "approved")),
     (5_000, CASH_BACK_MAX + 1, ("61", "over cash-back limit"))],
)  # fmt: skip
def test_cash_back_between_one_unit_and_all_but_one_unit_up_to_its_maximum(
    goods: int, cash: int, expected: tuple[str, str]
) -> None:
    assert _decide(_cash_back(goods, cash)) == expected


def test_a_plain_purchase_ignores_a_stray_cash_back_amount() -> None:
    """DE54 with amount type 40 on a plain purchase (DE3 000000) is not cash-back: a CIB card,
    whose product offers none, is approved, not 57."""
    stray = purchase("CIB-VALID", 5_000, additional_amounts="0040012C000000001000")
    assert _decide(stray) == ("00", "approved")


def test_a_purchase_is_never_held_to_the_unreferenced_refund_limit() -> None:
    """The merchant's unreferenced refund maximum (20 000,00 DA at DZAL0001) bounds refunds
    only; a sale above it is approved, and a declined refund keeps its own decline."""
    assert ALGIERS.merchant.unreferenced_refund_max == 2_000_000
    assert _decide(purchase("EDH-VALID", 3_000_000)) == ("00", "approved")
    refund = purchase("EDH-VALID", 3_000_000, processing_code="200000")
    assert _decide(refund) == ("13", "over unreferenced limit")
    assert _decide(refund, pin=PinCheck.WRONG) == ("55", "incorrect PIN")


def _tn_cti_online(amount: int) -> FinancialRequest:
    assert WEB_SHOP is not None
    return purchase("TN-CTI", amount, terminal=WEB_SHOP, entry_mode="812")


def test_the_fx_allowance_at_its_limit_and_one_unit_over() -> None:
    """TN-CTI abroad: 1 000 TND over twelve months, counted in the card's currency."""
    request = _tn_cti_online(10_000)
    billed = billed_amount(request, "TND", FX)
    room = 1_000_000 - billed
    at_limit = CardholderPosition(available=10**9, spent_today=0, fx_spent=room)
    over = CardholderPosition(available=10**9, spent_today=0, fx_spent=room + 1)
    assert WEB_SHOP is not None
    assert _decide(request, at_limit, terminal=WEB_SHOP, cvv=CvvCheck.OK)[0] == "00"
    assert _decide(request, over, terminal=WEB_SHOP, cvv=CvvCheck.OK) == (
        "61", "over FX allowance")  # fmt: skip
    short = CardholderPosition(available=billed - 1, spent_today=0, fx_spent=room + 1)
    assert _decide(request, short, terminal=WEB_SHOP, cvv=CvvCheck.OK) == (
        "61", "over FX allowance")  # fmt: skip
    daily = CardholderPosition(available=10**9, spent_today=2_000_000, fx_spent=room + 1)
    assert _decide(request, daily, terminal=WEB_SHOP, cvv=CvvCheck.OK) == (
        "61", "over daily limit")  # fmt: skip


def _issuer_midnight(card: Card, day: date) -> datetime:
    """The first instant of ``day`` in the card's issuer's time zone, in UTC."""
    product = CARDS.products[card.product]
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    while issuer_day(product, moment) >= day:
        moment -= timedelta(minutes=30)
    return moment + timedelta(minutes=30)


def test_a_card_pays_on_its_last_valid_day_and_not_the_day_after() -> None:
    card = CARDS.card("EDH-VALID")
    last = _issuer_midnight(card, card.last_valid_day)
    after = _issuer_midnight(card, card.last_valid_day + timedelta(days=1))
    assert _decide(purchase("EDH-VALID"), now=last + timedelta(hours=23))[0] == "00"
    assert _decide(purchase("EDH-VALID"), now=after) == ("54", "card expired")
    product = CARDS.products[card.product]
    assert card_standing(card, product, last + timedelta(hours=23)) is None
    assert card_standing(card, product, after) == ("54", "card expired")


@pytest.mark.parametrize(
    ("card_id", "expected"),
    [("EDH-VALID", None), ("EDH-LOST", ("41", "card reported lost")),
     ("EDH-STOLEN", ("43", "card reported stolen")), ("EDH-BLOCKED", ("62", "card blocked")),
     ("EDH-NOT-ACTIVE", ("62", "card not activated")), ("EDH-EXPIRED", ("54", "card expired"))],
)  # fmt: skip
def test_the_standing_of_a_card(card_id: str, expected: tuple[str, str] | None) -> None:
    card = CARDS.card(card_id)
    assert card_standing(card, CARDS.products[card.product], NOW) == expected


def test_a_lost_card_that_has_also_expired_stands_as_lost() -> None:
    card = CARDS.card("EDH-LOST")
    assert card.status is CardStatus.LOST
    years_later = datetime(2040, 1, 1, tzinfo=UTC)
    assert card_standing(card, CARDS.products[card.product], years_later) == (
        "41", "card reported lost")  # fmt: skip


def test_the_order_of_the_usability_checks_at_the_edges() -> None:
    """Status before the issuer's block; a wrong expiry before expiry; expiry before the
    country (a domestic-only card abroad years after it expired)."""
    assert _decide(purchase("EDH-LOST"), blocked=True) == ("41", "card reported lost")
    assert _decide(purchase("EDH-EXPIRED", expiry="9901")) == ("54", "expiry mismatch")
    years_later = datetime(2040, 1, 1, tzinfo=UTC)
    assert _decide(purchase("TN-VALID"), now=years_later) == ("54", "card expired")
    assert _decide(purchase("TN-VALID")) == ("62", "domestic card abroad")


def test_a_card_code_decline_comes_before_a_replayed_counter() -> None:
    from switch.security import ArqcCheck  # noqa: PLC0415

    assert _decide(purchase("EDH-VALID"), cvv=CvvCheck.WRONG_CVV, arqc=ArqcCheck.OK, atc=3,
                   last_atc=4) == ("05", "CVV mismatch")  # fmt: skip


def test_a_channel_without_limits_is_57() -> None:
    """A product that lists a channel but gives it no limits: the card cannot pay there."""
    product = CARDS.products["edahabia"]
    limits = {channel: value for channel, value in product.limits.items() if channel != Channel.POS}
    changed = product.model_copy(update={"limits": limits})
    cards = replace(CARDS, products={**CARDS.products, "edahabia": changed})
    decision = authorize(purchase("EDH-VALID"), terminal=ALGIERS, signed_on=True, cards=cards,
                         position=RICH, now=NOW)  # fmt: skip
    assert (decision.code, decision.reason) == ("57", "no pos limits")


def test_below_the_minimum_is_told_before_over_the_per_transaction_limit() -> None:
    """Limits no product ships (a minimum above the per-transaction maximum) still decline in
    the engine's order: the minimum first."""
    product = CARDS.products["edahabia"]
    pos = product.limits[Channel.POS].model_copy(update={"min": 5_000, "per_transaction": 1_000})
    changed = product.model_copy(update={"limits": {**product.limits, Channel.POS: pos}})
    cards = replace(CARDS, products={**CARDS.products, "edahabia": changed})
    decision = authorize(purchase("EDH-VALID", 2_000), terminal=ALGIERS, signed_on=True,
                         cards=cards, position=RICH, now=NOW)  # fmt: skip
    assert (decision.code, decision.reason) == ("13", "below minimum amount")
