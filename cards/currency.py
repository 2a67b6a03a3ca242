"""Currencies and countries as data, and money formatting in integer minor units.

Money is always an ``int`` of minor units plus a :class:`Currency`; never a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml

__all__ = [
    "MAX_MINOR",
    "Country",
    "Currency",
    "country",
    "country_by_numeric",
    "currency",
    "currency_by_numeric",
    "format_amount",
    "format_money",
    "is_amount_text",
    "parse_amount",
]


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: alpha code, numeric code (DE49) and exponent (decimals)."""

    code: str
    numeric: str
    exponent: int
    name: str
    symbol_fr: str
    symbol_ar: str

    @property
    def unit(self) -> int:
        """Minor units in one major unit (100 for DZD, 1 000 for TND)."""
        return int(10**self.exponent)


@dataclass(frozen=True, slots=True)
class Country:
    """An ISO 3166 country with its numeric code (DE19), currency, time zone and acquirer."""

    code: str
    numeric: str
    name: str
    currency: str
    timezone: str
    acquirer: str
    acquirer_ar: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@cache
def _tables() -> tuple[dict[str, Currency], dict[str, Country]]:
    text = resources.files("cards.data").joinpath("currencies.yaml").read_text("utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    currencies = {row["code"]: Currency(**row) for row in raw["currencies"]}
    countries = {row["code"]: Country(**row) for row in raw["countries"]}
    return currencies, countries


def currency(code: str) -> Currency:
    """The currency with alpha code ``code`` (``"DZD"``); KeyError names it when unknown."""
    try:
        return _tables()[0][code]
    except KeyError:
        raise KeyError(f"unknown currency {code!r}") from None


def currency_by_numeric(numeric: str) -> Currency | None:
    """The currency whose ISO numeric code (DE49) is ``numeric`` (``"012"``), or None."""
    return next((c for c in _tables()[0].values() if c.numeric == numeric), None)


def country(code: str) -> Country:
    """The country with alpha-2 code ``code`` (``"DZ"``)."""
    try:
        return _tables()[1][code]
    except KeyError:
        raise KeyError(f"unknown country {code!r}") from None


def country_by_numeric(numeric: str) -> Country | None:
    """The country whose ISO numeric code is ``numeric``, or None."""
    return next((c for c in _tables()[1].values() if c.numeric == numeric), None)


def format_amount(minor: int, cur: Currency, *, symbol: str | None = None) -> str:
    """French-style amount: ``format_amount(150000, DZD)`` → ``"1 500,00 DA"``.

    Thousands are grouped with a plain space (receipt printers are not Unicode-aware),
    the decimal separator is a comma, and the currency's exponent sets the decimals.
    """
    sign = "-" if minor < 0 else ""
    major, fraction = divmod(abs(minor), cur.unit)
    grouped = f"{major:,}".replace(",", " ")
    text = f"{sign}{grouped},{fraction:0{cur.exponent}d}" if cur.exponent else f"{sign}{grouped}"
    suffix = cur.symbol_fr if symbol is None else symbol
    return f"{text} {suffix}" if suffix else text


def format_money(minor: int, code: str) -> str:
    """``format_money(150000, "DZD")`` → ``"1 500,00 DZD"``; an unknown ``code`` gets the
    plain minor units (``"150000 XXX"``)."""
    try:
        cur = currency(code)
    except KeyError:
        return f"{minor} {code}"
    return format_amount(minor, cur, symbol=code)


MAX_MINOR = 999_999_999_999
"""The largest amount in minor units: DE4 (n12) holds twelve digits."""

_AMOUNT_TEXT = re.compile(r"(?:[0-9]+|[0-9]{1,3}(?: [0-9]{3})+)(?:\.[0-9]+)?")
"""Digits, optionally grouped by three with spaces, and at most one decimal point: no sign, no
exponent, no ``inf`` nor ``NaN``, no stray space (``1 5``)."""


def _plain(text: str) -> str:
    """``text`` trimmed, its non-breaking spaces plain, its decimal comma a point."""
    return text.strip().replace("\u00a0", " ").replace(",", ".")


def is_amount_text(text: str) -> bool:
    """Whether ``text`` is an amount written plainly (``"1 500,50"``), as parse_amount takes."""
    return _AMOUNT_TEXT.fullmatch(_plain(text)) is not None


def parse_amount(text: str, cur: Currency) -> int:
    """Parse a major-unit amount (``"1500"``, ``"1 500,50"``, ``"12.345"``) into minor units.

    Raises ValueError when the text is not a plain decimal number (``"1e3"``, ``"-5"``,
    ``"0x10"`` are refused: an amount is never guessed), or has more decimals than the currency
    allows (``"1.2345"`` TND).
    """
    shown = repr(text) if len(text) <= 24 else f"{text[:20]!r}..."
    if not is_amount_text(text):
        raise ValueError(f"{shown} is not an amount (digits, and a comma before the decimals)")
    plain = _plain(text).replace(" ", "")
    if len(plain.partition(".")[0].lstrip("0")) > 12:
        raise ValueError(f"{shown} is too large an amount (at most {MAX_MINOR} minor units)")
    minor = Decimal(plain) * cur.unit
    if minor != minor.to_integral_value():
        raise ValueError(f"{shown} has more than {cur.exponent} decimals for {cur.code}")
    if minor > MAX_MINOR:
        raise ValueError(f"{shown} is too large an amount (at most {MAX_MINOR} minor units)")
    return int(minor)
