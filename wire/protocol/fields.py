"""Typed ISO 8583 data elements for the JSON wire format.

On the wire every data element keeps its ISO 8583:1987 form (``"4": "000000150000"``); inside
Python, numeric elements are ``int`` (amount in minor units, STAN) and the rest are validated
strings. Each alias is the data element number, as in pyiso8583 dictionaries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, StringConstraints

__all__ = [
    "AdditionalResponse",
    "AmountMinor",
    "AuthCode",
    "BatchNumber",
    "CardSecurityCode",
    "Count",
    "Country3",
    "CurrencyNumeric",
    "DifferenceLine",
    "Expiry",
    "HexField",
    "JournalLine",
    "LocalDate",
    "LocalTime",
    "MerchantId",
    "MerchantNameLocation",
    "NetworkCode",
    "OriginalData",
    "Pan",
    "PosEntryMode",
    "ProcessingCode",
    "Psn",
    "ResponseCode",
    "Rrn",
    "SettlementDate",
    "Stan",
    "TerminalId",
    "TotalAmount",
    "Track2",
    "TransmissionTime",
    "format_transmission_time",
]


def _fixed_digits(width: int) -> Any:
    """Accept an int or a string of exactly ``width`` digits; give an int."""

    def parse(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be digits, not a boolean")
        if isinstance(value, int):
            if not 0 <= value < 10**width:
                raise ValueError(f"must fit in {width} digits")
            return value
        if isinstance(value, str):
            if len(value) != width or not value.isascii() or not value.isdigit():
                raise ValueError(f"must be exactly {width} digits")
            return int(value)
        raise ValueError(f"must be {width} digits")

    return BeforeValidator(parse)


def _as_digits(width: int) -> PlainSerializer:
    return PlainSerializer(lambda v: f"{v:0{width}d}", return_type=str)


def _digits(width: int) -> StringConstraints:
    return StringConstraints(pattern=rf"^[0-9]{{{width}}}$")


def _check_mmddhhmmss(value: str) -> str:
    month, day = int(value[0:2]), int(value[2:4])
    hour, minute, second = int(value[4:6]), int(value[6:8]), int(value[8:10])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        raise ValueError("must be a valid MMDDhhmmss date and time")
    return value


def _check_mmdd(value: str) -> str:
    if not (1 <= int(value[:2]) <= 12 and 1 <= int(value[2:]) <= 31):
        raise ValueError("must be a valid MMDD date")
    return value


def _check_hhmmss(value: str) -> str:
    if not (int(value[:2]) < 24 and int(value[2:4]) < 60 and int(value[4:]) < 60):
        raise ValueError("must be a valid hhmmss time")
    return value


def _check_yymm(value: str) -> str:
    if not 1 <= int(value[2:]) <= 12:
        raise ValueError("must be a valid YYMM expiry")
    return value


def format_transmission_time(moment: datetime) -> str:
    """DE7 for ``moment``: ``MMDDhhmmss`` in GMT."""
    return moment.astimezone(UTC).strftime("%m%d%H%M%S")


def transmission_skew(text: str, now: datetime) -> float | None:
    """Seconds DE7 ``text`` is ahead of ``now`` (negative: behind), taking the year that puts
    it nearest; None when it names no moment."""
    if len(text) != 10 or not text.isdigit():
        return None
    month, day, hour, minute, second = (int(text[i : i + 2]) for i in range(0, 10, 2))
    best: float | None = None
    for year in (now.year - 1, now.year, now.year + 1):
        try:  # on every request: datetime(), not strptime
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            continue
        skew = (moment - now).total_seconds()
        if best is None or abs(skew) < abs(best):
            best = skew
    return best


# DE2: 13 to 19 digits (shorter runs could not be told from RRNs and amounts in logs).
# A PAN failing Luhn is well-formed: the issuer declines it with 14.
Pan = Annotated[str, StringConstraints(pattern=r"^[0-9]{13,19}$")]
# DE3: transaction type (2) + from account (2) + to account (2); "000000" is a purchase.
ProcessingCode = Annotated[str, _digits(6)]
# DE4: amount in minor units of DE49's currency (n12).
AmountMinor = Annotated[int, _fixed_digits(12), _as_digits(12)]
# DE7: transmission date and time, MMDDhhmmss GMT.
TransmissionTime = Annotated[str, _digits(10), AfterValidator(_check_mmddhhmmss)]
# DE11: systems trace audit number, unique per terminal per day (n6).
Stan = Annotated[int, _fixed_digits(6), _as_digits(6)]
# DE60 (private use): the terminal's batch number (n6), 1 for its first batch, up by one at
# every close the switch answered.
BatchNumber = Annotated[int, _fixed_digits(6), _as_digits(6)]
# DE12 / DE13: terminal local time hhmmss and date MMDD.
LocalTime = Annotated[str, _digits(6), AfterValidator(_check_hhmmss)]
LocalDate = Annotated[str, _digits(4), AfterValidator(_check_mmdd)]
# DE14: card expiry YYMM, as read from the card.
Expiry = Annotated[str, _digits(4), AfterValidator(_check_yymm)]
# DE22: POS entry mode (n3), e.g. 051 chip with PIN.
PosEntryMode = Annotated[str, _digits(3)]
# DE23: card sequence number (n3).
Psn = Annotated[str, _digits(3)]
# DE35: track 2 equivalent data (z..37): PAN, separator, YYMM, service code, discretionary data.
Track2 = Annotated[str, StringConstraints(pattern=r"^[0-9]{13,19}[=D][0-9]{7,20}$", max_length=37)]
# DE48 (private use in tpesim): the card security code (CVV2) read off the card for keyed entry.
CardSecurityCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3,4}$")]
# DE37: retrieval reference number (an12), set by the switch.
Rrn = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{12}$")]
# DE38: authorization identification response (an6).
AuthCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{6}$")]
# DE39: response code (an2).
ResponseCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{2}$")]
# DE41: terminal id (ans8); tpesim uses 8 upper-case letters or digits (it is a topic segment).
TerminalId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{8}$")]
# DE42: card acceptor (merchant) id (ans15).
MerchantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ]{15}$")]
# DE43: card acceptor name/location (ans40).
MerchantNameLocation = Annotated[str, StringConstraints(min_length=1, max_length=40)]
# DE44: additional response data (ans..25): why a request was refused.
AdditionalResponse = Annotated[str, StringConstraints(max_length=25)]
# DE19 / DE49: ISO numeric country / currency code (n3).
Country3 = Annotated[str, _digits(3)]
CurrencyNumeric = Annotated[str, _digits(3)]
# DE52, DE53, DE55, DE64: binary elements carried as upper-case hex.
HexField = Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{2,1024}$")]
# DE70: network management information code: 001 sign-on, 002 sign-off, 301 echo.
NetworkCode = Annotated[str, StringConstraints(pattern=r"^(001|002|301)$")]
# DE74/76: counts of credits (refunds) and debits (sales) in a batch (n10).
Count = Annotated[int, _fixed_digits(10), _as_digits(10)]
# DE86/88: amounts of credits and debits in a batch, minor units (n16).
TotalAmount = Annotated[int, _fixed_digits(16), _as_digits(16)]
# DE15: settlement date MMDD (the business day the batch belongs to).
SettlementDate = Annotated[str, _digits(4), AfterValidator(_check_mmdd)]
# DE124 in an 0500: the terminal's journal, one entry per item: kind, STAN, amount in minor units
# (S sale, R refund, P sale whose reversal is still pending, O sale approved offline).
JournalLine = Annotated[str, StringConstraints(pattern=r"^[SRPO][0-9]{6}:[0-9]{1,12}$")]
# DE124 in an 0510: the switch's explanation of each difference.
DifferenceLine = Annotated[str, StringConstraints(min_length=1, max_length=160)]
# DE90: original data elements (n42): MTI(4) STAN(6) DE7(10) acquirer(11) forwarder(11).
OriginalData = Annotated[str, _digits(42)]
