"""PIN verification edges: the PVKI and PIN rules of the Visa PVV, the decimalization table of
IBM 3624, and the longest natural PIN and offset (values from psec 1.3.0 as the oracle)."""

from __future__ import annotations

import pytest

from cards.crypto import ibm3624_natural_pin, ibm3624_offset, visa_pvv

h = bytes.fromhex
PVK = h("0123456789ABCDEFFEDCBA9876543210")
PAN = "1122334455667788"
TABLE = "1234567890123456"


@pytest.mark.parametrize(("pvki", "pvv"), [(0, "4480"), (9, "6965")])
def test_pvv_with_the_lowest_and_highest_pvki(pvki: int, pvv: str) -> None:
    """PVKI 0 and 9 are both one digit (psec generate_visa_pvv)."""
    assert visa_pvv(PVK, pvki, "4524", PAN) == pvv


@pytest.mark.parametrize("pvki", [-1, 10])
def test_pvv_refuses_a_pvki_that_is_not_one_digit(pvki: int) -> None:
    """-1 and 10 are refused, also when the PIN is wrong too (the PVKI is checked first)."""
    with pytest.raises(ValueError, match=r"^PVKI is one digit$"):
        visa_pvv(PVK, pvki, "4524", PAN)
    with pytest.raises(ValueError, match=r"^PVKI is one digit$"):
        visa_pvv(PVK, pvki, "12", PAN)


@pytest.mark.parametrize("pin", ["", "123", "12a4", "45 4"])
def test_pvv_refuses_a_pin_that_is_not_4_digits_or_more(pin: str) -> None:
    """Three digits, a letter or a space: no PVV."""
    with pytest.raises(ValueError, match=r"^a PIN is at least 4 digits$"):
        visa_pvv(PVK, 1, pin, PAN)


def test_longest_natural_pin_and_offset() -> None:
    """All 16 digits of the encrypted validation data (psec generate_ibm3624_pin/offset)."""
    assert ibm3624_natural_pin(PVK, TABLE, PAN, length=16) == "4524283687222594"
    assert ibm3624_offset(PVK, TABLE, "1234567890123456", PAN) == "7710384213901962"


def test_offset_refuses_a_pin_longer_than_the_natural_pin() -> None:
    """One TDES block gives at most 16 natural PIN digits: a 17-digit PIN has no offset."""
    with pytest.raises(ValueError, match="shorter than argument 1"):
        ibm3624_offset(PVK, TABLE, "12345678901234567", PAN)


@pytest.mark.parametrize("table", ["", "123456789012345", "12345678901234567", "123456789012345A"])
def test_decimalization_table_is_16_digits(table: str) -> None:
    """15 or 17 digits, or a hex letter, are refused by both the natural PIN and the offset."""
    with pytest.raises(ValueError, match=r"^a decimalization table is 16 digits$"):
        ibm3624_natural_pin(PVK, table, PAN, length=4)
    with pytest.raises(ValueError, match=r"^a decimalization table is 16 digits$"):
        ibm3624_offset(PVK, table, "1234", PAN)


@pytest.mark.parametrize("pin", ["", "123", "12a4"])
def test_an_offset_needs_a_pin_of_at_least_four_digits(pin: str) -> None:
    """No offset of an empty, short or non-digit PIN (it was "" for an empty one)."""
    with pytest.raises(ValueError, match=r"^a PIN is at least 4 digits$"):
        ibm3624_offset(PVK, TABLE, pin, PAN)
