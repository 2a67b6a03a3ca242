"""Exchange rates as data and the foreign-currency allowance's window (cards.fx)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cards.fx import FxRates, allowance_start, default_fx_rates
from cards.models import AllowancePeriod
from wire.protocol.billing import format_conversion_rate, parse_conversion_rate
from wire.protocol.explain import explain_message


def test_conversion_goes_through_the_base_and_rounds_half_up() -> None:
    rates = FxRates("EUR", "2026-11-23", {"EUR": Decimal(1), "TND": Decimal("3.420"),
                                          "DZD": Decimal("152.50")})  # fmt: skip
    assert rates.convert(1_999, "EUR", "TND") == 68_366  # 68.3658 DT
    assert rates.convert(100_000, "DZD", "TND") == 22_426  # 1 000 DA: 22.4262 DT
    assert rates.convert(5, "TND", "EUR") == 0  # 0.005 DT: 0.146 cents
    assert rates.convert(15, "TND", "EUR") == 0 and rates.convert(18, "TND", "EUR") == 1
    assert rates.convert(1_234, "DZD", "DZD") == 1_234
    assert rates.rate("EUR", "TND") == Decimal("3.420")
    with pytest.raises(KeyError, match="USD"):
        rates.convert(100, "USD", "TND")


def test_the_shipped_table_quotes_the_region_and_the_euro() -> None:
    rates = default_fx_rates()
    assert all(rates.quotes(code) for code in ("EUR", "DZD", "MAD", "TND"))


@pytest.mark.parametrize(
    "text",
    [
        "base: EUR\nrates: {EUR: '1', TND: '-3'}",
        "base: EUR\nrates: {EUR: '2', TND: '3'}",
        "base: EUR\nrates: {EUR: '1', XYZ: '3'}",
        "rates: {EUR: '1'}",
        "base: EUR\nrates: {EUR: '1', TND: abc}",
    ],
)
def test_a_bad_rate_table_is_refused_with_its_reason(text: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        FxRates.from_yaml(text)


def test_a_calendar_year_allowance_comes_back_on_the_first_of_january() -> None:
    assert allowance_start(AllowancePeriod.CALENDAR_YEAR, date(2026, 12, 31)) == date(2026, 1, 1)
    assert allowance_start(AllowancePeriod.CALENDAR_YEAR, date(2027, 1, 1)) == date(2027, 1, 1)


def test_a_twelve_month_allowance_counts_the_days_after_the_same_date_a_year_before() -> None:
    rolling = AllowancePeriod.ROLLING_12_MONTHS
    assert allowance_start(rolling, date(2027, 11, 23)) == date(2026, 11, 24)
    assert allowance_start(rolling, date(2028, 2, 29)) == date(2027, 3, 1)
    assert allowance_start(rolling, date(2028, 3, 1)) == date(2027, 3, 2)


@pytest.mark.parametrize(
    ("rate", "field", "back"),
    [
        ("3.420", "63420000", "3.42"),
        ("152.50", "41525000", "152.5"),
        ("0.2923976608", "72923976", "0.2923976"),
        ("1", "61000000", "1"),
        ("1234567.8", "01234567", "1234567"),
    ],
)
def test_de10_holds_seven_digits_and_says_where_the_point_goes(
    rate: str, field: str, back: str
) -> None:
    assert format_conversion_rate(Decimal(rate)) == field
    assert parse_conversion_rate(field) == Decimal(back)


def test_de10_refuses_a_rate_it_cannot_hold() -> None:
    for rate in ("0", "-1", "10000000"):
        with pytest.raises(ValueError, match="DE10"):
            format_conversion_rate(Decimal(rate))


def test_a_trainer_sees_the_billing_fields_explained() -> None:
    answer = {"mti": "0210", "4": "000000001999", "6": "000000068366", "10": "63420000",
              "39": "00", "49": "978", "51": "788"}  # fmt: skip
    fields = {f.de: f for f in explain_message(answer)}
    assert fields["4"].meaning is not None and fields["4"].meaning.en == "19,99 EUR"
    assert fields["6"].meaning is not None and fields["6"].meaning.en == "68,366 TND"
    assert fields["10"].meaning is not None and fields["10"].meaning.fr == "taux 3,42"
    assert fields["51"].meaning is not None and "dinar" in fields["51"].meaning.fr.lower()
    assert fields["6"].name.fr == "Montant débité sur la carte"
