"""Luhn (ISO/IEC 7812-1 mod 10) check digits for card numbers."""

from __future__ import annotations

__all__ = ["is_valid_pan_format", "luhn_check_digit", "luhn_is_valid"]


def _luhn_sum(digits: str, *, double_first: bool) -> int:
    total = 0
    double = double_first
    for char in reversed(digits):
        value = ord(char) - 48
        if double:
            value *= 2
            if value > 9:
                value -= 9
        total += value
        double = not double
    return total


def luhn_is_valid(pan: str) -> bool:
    """True when ``pan`` is all digits and its last digit is the correct Luhn check digit."""
    if not pan.isascii() or not pan.isdigit() or len(pan) < 2:
        return False
    return _luhn_sum(pan, double_first=False) % 10 == 0


def luhn_check_digit(partial_pan: str) -> str:
    """The check digit that makes ``partial_pan + digit`` Luhn-valid."""
    if not partial_pan.isascii() or not partial_pan.isdigit():
        raise ValueError("a PAN prefix must be digits only")
    return str((10 - _luhn_sum(partial_pan, double_first=True) % 10) % 10)


def is_valid_pan_format(pan: str) -> bool:
    """True for 13 to 19 ASCII digits (the PAN lengths tpesim accepts), whatever the check digit."""
    return pan.isascii() and pan.isdigit() and 13 <= len(pan) <= 19
