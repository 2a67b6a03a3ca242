"""DE6, DE10 and DE51: what a payment abroad costs the cardholder, in the card's currency.

An answer to a card paying in another currency than its account's carries the amount debited
(DE6, minor units of DE51, the card account's ISO 4217 numeric currency) and the rate used
(DE10). DE10 is eight digits: the first says how many decimals the other seven hold
(``30003420`` is 3.420); here it gives units of the card's currency per unit of the
transaction's (major units: 1 EUR = 3.420 TND). Pure.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import StringConstraints

__all__ = ["ConversionRate", "format_conversion_rate", "parse_conversion_rate"]

ConversionRate = Annotated[str, StringConstraints(pattern=r"^[0-7][0-9]{7}$")]
"""DE10 as on the wire."""


def format_conversion_rate(rate: Decimal) -> str:
    """DE10 for ``rate`` (> 0), with as many decimals as seven digits hold, rounded down to
    them (ValueError when ``rate`` needs more than seven digits before the point)."""
    if not rate.is_finite() or rate <= 0 or rate >= 10_000_000:
        raise ValueError(f"a conversion rate of {rate} does not fit DE10")
    for decimals in range(7, -1, -1):
        digits = int(rate.scaleb(decimals))
        if digits < 10_000_000:
            return f"{decimals}{digits:07d}"
    raise AssertionError("unreachable: 0 decimals always fit")  # pragma: no cover


def parse_conversion_rate(field: str) -> Decimal:
    """The rate a DE10 already validated as :data:`ConversionRate` gives."""
    return Decimal(int(field[1:])).scaleb(-int(field[0])).normalize()
