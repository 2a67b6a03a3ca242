"""Card domain: Luhn, currencies, masking and the shipped card set."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards import (
    CardSetError,
    Channel,
    PanMaskingFilter,
    currency,
    default_card_set,
    format_amount,
    load_card_set,
    luhn_check_digit,
    luhn_is_valid,
    mask_pan,
    mask_pans_in_text,
    parse_amount,
)

SATIM_VALID = [
    "6280581110007215",
    "6280581110006712",
    "6280581110006316",
    "6280581110006415",
    "6280581110006613",
    "6280580610061219",
    "6280580610061110",
    "6280581110006514",
    "6280580610061318",
    "6280581110007017",
    "6280581110007116",
    "6280581110007314",
    "6280580610056615",
]
DOCS = Path(__file__).resolve().parents[3] / "docs"


@pytest.mark.parametrize("pan", SATIM_VALID)
def test_satim_certification_pans_pass_luhn(pan: str) -> None:
    """Every SATIM sandbox PAN but the 'no longer exists' one is Luhn-valid."""
    assert luhn_is_valid(pan)


def test_satim_unknown_card_fails_luhn() -> None:
    """6280581110003927 fails Luhn, matching its 'card does not exist' role."""
    assert not luhn_is_valid("6280581110003927")


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_check_digit_makes_any_prefix_valid(prefix: str) -> None:
    """Appending the computed check digit always yields a valid number."""
    assert luhn_is_valid(prefix + luhn_check_digit(prefix))


@given(st.text(alphabet="0123456789", min_size=11, max_size=18), st.integers(1, 9))
def test_changing_the_check_digit_breaks_luhn(prefix: str, shift: int) -> None:
    """Any other last digit is rejected (Luhn catches every single-digit error)."""
    wrong = (int(luhn_check_digit(prefix)) + shift) % 10
    assert not luhn_is_valid(prefix + str(wrong))


@pytest.mark.parametrize("text", ["", "1", "62805811100072a5", "６２８０５８"])
def test_luhn_rejects_non_digits(text: str) -> None:
    """Empty, too short or non-ASCII-digit input is never valid."""
    assert not luhn_is_valid(text)


@pytest.mark.parametrize(
    ("minor", "code", "text"),
    [
        (150000, "DZD", "1 500,00 DA"),
        (850500, "TND", "850,500 DT"),
        (5, "TND", "0,005 DT"),
        (123456789, "MAD", "1 234 567,89 DH"),
        (-2550, "DZD", "-25,50 DA"),
    ],
)
def test_format_amount_uses_currency_exponent(minor: int, code: str, text: str) -> None:
    """Amounts print with the currency's own number of decimals."""
    assert format_amount(minor, currency(code)) == text


@pytest.mark.parametrize(
    ("text", "code", "minor"),
    [
        ("1500", "DZD", 150000),
        ("1 500,50", "DZD", 150050),
        ("12.345", "TND", 12345),
        ("0,5", "MAD", 50),
    ],
)
def test_parse_amount_to_minor_units(text: str, code: str, minor: int) -> None:
    """Major-unit text becomes integer minor units, never a float."""
    assert parse_amount(text, currency(code)) == minor


@pytest.mark.parametrize(
    ("text", "code"),
    [("1.2345", "TND"), ("1.005", "DZD"), ("-3", "DZD"), ("abc", "MAD"), ("NaN", "DZD"),
     ("1e3", "DZD"), ("1E3", "DZD"), ("15e-1", "TND"), ("+5", "DZD"), ("Infinity", "DZD"),
     ("0x10", "DZD"), ("1,2,3", "DZD"), (" ", "DZD"), ("1_000", "DZD"), ("\u0661\u0665", "DZD")],
)  # fmt: skip
def test_parse_amount_rejects_bad_input(text: str, code: str) -> None:
    """Too many decimals, negatives, exponents (``1e3`` is not 1 000,00) and anything but
    plain digits are refused with a ValueError: an amount is never guessed."""
    with pytest.raises(ValueError, match=re.escape(text)):
        parse_amount(text, currency(code))


def test_mask_pan_keeps_first_six_and_last_four() -> None:
    """PANs show as 6 + 4 digits; anything too short is fully masked."""
    assert mask_pan("6280581110007215") == "628058******7215"
    assert mask_pan("9900120000000016123") == "990012*********6123"
    assert mask_pan("12345") == "*****"
    assert mask_pans_in_text("rrn 632714000042 amount 000000150000") == (
        "rrn 632714000042 amount 000000150000"
    )
    # A merchant id is not a card number; track 2 is masked up to its separator.
    assert mask_pans_in_text('"42":"DZ0000000000101"') == '"42":"DZ0000000000101"'
    assert mask_pans_in_text("6280581110007215D29061010000") == "628058******7215D29061010000"


def test_mask_pans_in_text_and_logging_filter(caplog: pytest.LogCaptureFixture) -> None:
    """Free text and log records never carry a full PAN."""
    text = "pan=6280581110007215, stan 000042, rrn 632714000042"
    assert mask_pans_in_text(text) == "pan=628058******7215, stan 000042, rrn 632714000042"
    logger = logging.getLogger("test.masking")
    logger.addFilter(PanMaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.masking"):
        logger.info("card %s declined", "6280581110007215")
    assert "6280581110007215" not in caplog.text
    assert "628058******7215" in caplog.text


def test_card_repr_and_str_are_masked() -> None:
    """A card printed in a log or a failing assertion shows a masked PAN."""
    card = default_card_set().card("EDH-VALID")
    for shown in (repr(card), str(card), f"{card}", repr([card])):
        assert "6280581110007215" not in shown
        assert "628058******7215" in shown


def test_default_card_set_links_products_and_limits() -> None:
    """Cards resolve to products by BIN; card overrides narrow product limits."""
    cards = default_card_set()
    edahabia, cib = (
        cards.product_for_pan("6280581110007215"),
        cards.product_for_pan("9900120000000016"),
    )
    assert edahabia is not None and edahabia.id == "edahabia"
    assert cib is not None and cib.id == "cib"
    assert cards.product_for_pan("4111111111111111") is None
    assert cards.issuer_card("6280581110003927") is None  # not on the issuer's file
    floor = cards.limits(cards.card("EDH-FLOOR-LIMIT"), Channel.POS)
    assert floor is not None and floor.per_transaction == 100_000 and floor.daily == 20_000_000
    assert currency(cards.products["tn-cti"].currency).exponent == 3


def test_test_card_doc_lists_every_card() -> None:
    """docs/test-cards.md names every card of the shipped set with its PAN."""
    doc = (DOCS / "test-cards.md").read_text(encoding="utf-8")
    for card in default_card_set().cards:
        assert card.id in doc and card.pan in doc, card.id


def test_card_set_errors_name_the_record(tmp_path: Path) -> None:
    """A broken card file is refused with the file and the offending card named."""
    bad = tmp_path / "cards.yaml"
    bad.write_text(
        "accounts: [{id: A1, holder: X, currency: DZD, balance: 10}]\n"
        "cards: [{id: C1, pan: '6280581110007215', product: nope, expiry: 2030-01, "
        "status: active, account: A1}]\n",
        encoding="utf-8",
    )
    with pytest.raises(CardSetError, match=r"cards\.yaml: card C1 names unknown product nope"):
        load_card_set(bad)
    bad.write_text("accounts: []\ncards: [{id: C2, pan: '12ab'}]\n", encoding="utf-8")
    with pytest.raises(CardSetError, match=r"cards\.yaml"):
        load_card_set(bad)
