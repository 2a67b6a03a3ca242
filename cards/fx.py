"""Foreign-currency card payments (pure): exchange rates as data, and the allowance window.

A card whose account is in one currency pays a merchant in another: the card's account is
debited the converted amount (:meth:`FxRates.convert`) and the allowance of its product
(:class:`cards.models.FxAllowance`, e.g. Tunisia's CTI, Morocco's e-commerce allowance) bounds
what such payments may total over a period: a calendar year, or the last twelve months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cards.currency import currency
from cards.models import AllowancePeriod

__all__ = ["FxRates", "allowance_start", "default_fx_rates"]


@dataclass(frozen=True)
class FxRates:
    """Units of each currency one unit of ``base`` buys (``rates["DZD"]``: dinars per euro),
    as published on ``as_of``."""

    base: str
    as_of: str
    rates: dict[str, Decimal]

    def __post_init__(self) -> None:
        for code, rate in self.rates.items():
            currency(code)  # KeyError naming an unknown currency
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f"exchange rate of {code}: {rate} is not a positive number")
        if self.rates.get(self.base) != 1:
            raise ValueError(f"the base currency {self.base} must have the rate 1")

    def quotes(self, code: str) -> bool:
        return code in self.rates

    def convert(self, amount: int, source: str, target: str) -> int:
        """``amount`` minor units of ``source`` in minor units of ``target``, rounded half up
        (KeyError for a currency without a rate)."""
        if source == target:
            return amount
        for code in (source, target):
            if code not in self.rates:
                raise KeyError(f"no exchange rate for {code}")
        src, dst = currency(source), currency(target)
        major = Decimal(amount) / src.unit
        converted = major / self.rates[source] * self.rates[target] * dst.unit
        return int(converted.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def rate(self, source: str, target: str) -> Decimal:
        """Units of ``target`` one unit of ``source`` buys (for receipts and traces)."""
        return self.rates[target] / self.rates[source]

    @classmethod
    def from_yaml(cls, text: str) -> FxRates:
        raw: dict[str, Any] = yaml.safe_load(text)
        try:
            rates = {str(code): Decimal(str(value)) for code, value in raw["rates"].items()}
            return cls(str(raw["base"]), str(raw.get("as_of", "")), rates)
        except (KeyError, TypeError, InvalidOperation) as error:
            raise ValueError(f"fx_rates.yaml: {error}") from None


@cache
def default_fx_rates() -> FxRates:
    """The rates of ``cards/data/fx_rates.yaml``."""
    return FxRates.from_yaml(resources.files("cards.data").joinpath("fx_rates.yaml").read_text())


def allowance_start(period: AllowancePeriod, day: date) -> date:
    """The first issuer day whose spending still counts against an allowance on ``day``:
    1 January for a calendar year (it resets at the new year), the day after the same date a
    year before for the last twelve months (each payment drops out a year after its day; a
    29 February's year before is 28 February)."""
    if period is AllowancePeriod.CALENDAR_YEAR:
        return date(day.year, 1, 1)
    try:
        year_before = day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        year_before = date(day.year - 1, 2, 28)
    return year_before + timedelta(days=1)
