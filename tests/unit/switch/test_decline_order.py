"""The order of the authorization engine's checks, pinned by requests that fail two at once:
the first failed check names the decline. Reordering any two checks changes a row.

Also: a refund is declined for a card that cannot pay (lost, stolen, blocked, not activated,
blocked by its issuer), as a purchase is, before the money checks that a refund skips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cards import CardStatus
from switch import CardholderPosition, authorize
from switch.security import ArqcCheck, CvvCheck, PinCheck
from tests.unit.switch.test_authorization import ALGIERS, CARDS, NOW, RICH, TUNIS, purchase
from wire import magic_amounts

DAILY = 20_000_000
"""EDH-VALID's daily POS limit (minor units), as the limit tests of test_authorization use."""
SHORT = CardholderPosition(available=0, spent_today=0)


def _bad_luhn(pan: str) -> str:
    return pan[:-1] + str((int(pan[-1]) + 1) % 10)


@dataclass(frozen=True)
class Row:
    """A request failing two checks, and the (code, reason) of the one that must win."""

    name: str
    card: str
    expected: tuple[str, str]
    amount: int = 150_000
    fields: dict[str, object] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)
    position: CardholderPosition = RICH
    signed_on: bool = True
    known: bool = True
    """Whether the switch knows the terminal."""


ROWS = [
    Row("unknown terminal, not signed on", "EDH-VALID", ("03", "unknown terminal"),
        known=False, signed_on=False),
    Row("not signed on, wrong MID", "EDH-VALID", ("03", "terminal not signed on"),
        fields={"merchant_id": "DZ0000000000999"}, signed_on=False),
    Row("not signed on, PAN fails Luhn", "EDH-VALID", ("03", "terminal not signed on"),
        fields={"pan": _bad_luhn(CARDS.card("EDH-VALID").pan)}, signed_on=False),
    Row("wrong MID, zero amount", "EDH-VALID", ("03", "merchant id mismatch"), amount=0,
        fields={"merchant_id": "DZ0000000000999"}),
    Row("zero amount, foreign currency", "EDH-VALID", ("13", "zero amount"), amount=0,
        fields={"currency": "788"}),
    Row("foreign currency, PAN fails Luhn", "EDH-VALID", ("13", "not terminal currency"),
        fields={"currency": "788", "pan": _bad_luhn(CARDS.card("EDH-VALID").pan)}),
    Row("magic amount 51 on a lost card", "EDH-LOST", ("51", "magic amount"), amount=7_751),
    Row("lost card, wrong PIN", "EDH-LOST", ("41", "card reported lost"),
        facts={"pin": PinCheck.WRONG}),
    Row("stolen card, wrong expiry", "EDH-STOLEN", ("43", "card reported stolen"),
        fields={"expiry": "9901"}),
    Row("blocked by its issuer, PIN tries exhausted", "EDH-VALID", ("62", "blocked by issuer"),
        facts={"blocked": True, "pin_failures": 3}),
    Row("PIN tries exhausted, wrong expiry", "EDH-VALID", ("75", "PIN tries exceeded"),
        facts={"pin_failures": 3}, fields={"expiry": "9901"}),
    Row("wrong expiry, domestic card abroad", "TN-VALID", ("54", "expiry mismatch"),
        fields={"expiry": "9901"}),
    Row("expired, wrong CVV", "EDH-EXPIRED", ("54", "card expired"),
        facts={"cvv": CvvCheck.WRONG_CVV}),
    Row("wrong CVV, wrong PIN", "EDH-VALID", ("05", "CVV mismatch"),
        facts={"cvv": CvvCheck.WRONG_CVV, "pin": PinCheck.WRONG}),
    Row("ARQC fails, no money", "EDH-VALID", ("05", "ARQC does not verify"),
        facts={"arqc": ArqcCheck.FAILED}, position=SHORT),
    Row("ATC replayed, wrong PIN", "EDH-VALID", ("05", "ATC replayed"),
        facts={"arqc": ArqcCheck.OK, "atc": 4, "last_atc": 4, "pin": PinCheck.WRONG}),
    Row("PIN block unreadable, no money", "EDH-VALID", ("30", "PIN block unreadable"),
        facts={"pin": PinCheck.UNREADABLE}, position=SHORT),
    Row("wrong PIN, over the daily limit", "EDH-VALID", ("55", "incorrect PIN"),
        facts={"pin": PinCheck.WRONG}, position=CardholderPosition(10**9, DAILY)),
    Row("below the minimum, no money", "EDH-VALID", ("13", "below minimum amount"), amount=999,
        position=SHORT),
    Row("over the per-transaction limit, no money", "EDH-VALID", ("61", "over per-txn limit"),
        amount=DAILY + 1, position=SHORT),
    Row("over the daily limit, no money", "EDH-VALID", ("61", "over daily limit"),
        amount=5_000, position=CardholderPosition(4_999, DAILY - 4_000)),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_the_first_failed_check_names_the_decline(row: Row) -> None:
    request = purchase(row.card, row.amount, **row.fields)  # type: ignore[arg-type]
    terminal = ALGIERS if row.known else None
    decision = authorize(request, terminal=terminal, signed_on=row.signed_on, cards=CARDS,
                         position=row.position, now=NOW, magic=magic_amounts(),
                         **row.facts)  # type: ignore[arg-type]  # fmt: skip
    assert (decision.code, decision.reason) == row.expected


def test_each_check_of_the_table_fails_alone_too() -> None:
    """Each row's two failures are real: the winning check alone gives the same code, so a
    row cannot pass because a check stopped working."""
    assert (
        authorize(
            purchase("EDH-VALID", 5_000),
            terminal=ALGIERS,
            signed_on=True,
            cards=CARDS,
            position=CardholderPosition(4_999, 0),
            now=NOW,
        ).code
        == "51"
    )
    assert authorize(purchase("EDH-VALID", 5_000), terminal=ALGIERS, signed_on=True,
                     cards=CARDS, position=CardholderPosition(10**9, DAILY - 4_000),
                     now=NOW).code == "61"  # fmt: skip
    assert (
        authorize(
            purchase("EDH-VALID", 15_000, terminal=TUNIS),
            terminal=TUNIS,
            signed_on=True,
            cards=CARDS,
            position=RICH,
            now=NOW,
        ).code
        == "62"
    )


CANNOT_PAY = [
    ("EDH-LOST", {}, ("41", "card reported lost")),
    ("EDH-STOLEN", {}, ("43", "card reported stolen")),
    ("EDH-BLOCKED", {}, ("62", "card blocked")),
    ("EDH-NOT-ACTIVE", {}, ("62", "card not activated")),
    ("EDH-VALID", {"blocked": True}, ("62", "blocked by issuer")),
    ("EDH-EXPIRED", {}, ("54", "card expired")),
]


@pytest.mark.parametrize(("card", "facts", "expected"), CANNOT_PAY, ids=[c for c, *_ in CANNOT_PAY])
def test_a_refund_to_a_card_that_cannot_pay_is_declined(
    card: str, facts: dict[str, object], expected: tuple[str, str]
) -> None:
    """A refund credits the card, but not a card that is lost, stolen or blocked: the issuer
    would be paying money into a card nobody should hold."""
    refund = purchase(card, 5_000, processing_code="200000")
    decision = authorize(refund, terminal=ALGIERS, signed_on=True, cards=CARDS, position=SHORT,
                         now=NOW, **facts)  # type: ignore[arg-type]  # fmt: skip
    assert (decision.code, decision.reason) == expected
    assert CARDS.card("EDH-VALID").status is CardStatus.ACTIVE
    valid = purchase("EDH-VALID", 5_000, processing_code="200000")
    assert authorize(valid, terminal=ALGIERS, signed_on=True, cards=CARDS, position=SHORT,
                     now=NOW).code == "00"  # fmt: skip
