"""Card, card product and account records, validated when the data files are loaded."""

from __future__ import annotations

import calendar
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cards.luhn import is_valid_pan_format
from cards.masking import mask_pan

__all__ = [
    "Account",
    "AllowancePeriod",
    "Card",
    "CardProduct",
    "CardStatus",
    "Channel",
    "ChannelLimits",
    "Fees",
    "FxAllowance",
    "LimitOverride",
    "StandIn",
]


class Channel(StrEnum):
    """Where a card is used; limits and permissions are per channel."""

    POS = "pos"
    ATM = "atm"
    ECOMMERCE = "ecommerce"
    QR = "qr"


class CardStatus(StrEnum):
    """Issuer-side card status (the SATIM certification statuses)."""

    ACTIVE = "active"
    TEMPORARILY_BLOCKED = "temporarily_blocked"
    LOST = "lost"
    STOLEN = "stolen"
    NOT_ACTIVATED = "not_activated"
    PIN_TRIES_EXCEEDED = "pin_tries_exceeded"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelLimits(_Record):
    """Amount limits for one channel, in minor units: min, per transaction, per local day."""

    min: int = Field(ge=0)
    per_transaction: int = Field(ge=0)
    daily: int = Field(ge=0)


class CashBack(_Record):
    """Cash handed over with a purchase (DE3 09): at most ``max_amount`` minor units a time."""

    max_amount: int = Field(gt=0)


class LimitOverride(_Record):
    """A card's own limits for one channel; unset values fall back to the product's."""

    min: int | None = Field(default=None, ge=0)
    per_transaction: int | None = Field(default=None, ge=0)
    daily: int | None = Field(default=None, ge=0)


class AllowancePeriod(StrEnum):
    """Over what a foreign-currency allowance is counted, and so when it comes back."""

    CALENDAR_YEAR = "calendar_year"
    """From 1 January (issuer's time): the whole allowance is back at the new year."""
    ROLLING_12_MONTHS = "rolling_12_months"
    """The last twelve months: each payment comes back a year after its day."""


class FxAllowance(_Record):
    """A foreign-currency allowance: at most ``amount`` minor units of the card's currency
    spent with merchants abroad, in another currency, per ``period``, through ``channels``
    (e.g. Tunisia's CTI: 1 000 TND per twelve months; Morocco: 10 000 MAD of e-commerce per
    calendar year). Abroad, a card with no allowance is declined."""

    amount: int = Field(ge=0)
    period: AllowancePeriod
    purpose: str
    channels: frozenset[Channel] = frozenset({Channel.ECOMMERCE})


class Fees(_Record):
    """Clearing fees in basis points of cleared sales: merchant discount, and the interchange
    the acquirer pays the issuer out of it."""

    merchant_discount_bps: int = Field(default=0, ge=0, le=10_000)
    interchange_bps: int = Field(default=0, ge=0, le=10_000)


class StandIn(_Record):
    """Stand-in processing (STIP) rules: what the switch may approve for the issuer while the
    issuer is down or too slow, per card, in minor units of the product currency."""

    max_amount: int = Field(gt=0)
    """Largest sale approved in stand-in; above it, 91 (issuer unavailable)."""
    daily_count: int = Field(gt=0)
    """Stand-in approvals per card per issuer day."""
    daily_amount: int = Field(gt=0)
    """Their total per card per issuer day."""


class CardProduct(_Record):
    """A card product: issuer, BINs, currency, domestic-only flag, channels and limits."""

    id: str
    name: str
    scheme: str
    issuer: str
    issuer_name: str
    country: str
    currency: str
    bins: tuple[str, ...]
    domestic_only: bool
    channels: frozenset[Channel]
    pin_try_limit: int = Field(default=3, ge=1, le=9)
    limits: dict[Channel, ChannelLimits]
    fx_allowance: FxAllowance | None = None
    fees: Fees = Fees()
    stand_in: StandIn | None = None
    """STIP rules; None: no stand-in, a sale gets 91 while the issuer is unavailable."""
    cash_back: CashBack | None = None
    """Purchase with cash-back; None: not offered (57)."""


class Account(_Record):
    """A cardholder account (CCP or bank account) with its opening balance in minor units."""

    id: str
    holder: str
    currency: str
    balance: int = Field(ge=0)


class Card(_Record):
    """A card record. ``expiry`` is ``YYYY-MM`` as on the issuer's file."""

    id: str
    pan: str
    product: str
    expiry: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    pvv: str | None = Field(default=None, pattern=r"^\d{4}$", repr=False)
    status: CardStatus
    account: str
    psn: int = Field(default=1, ge=0, le=999)
    service_code: str = Field(default="201", pattern=r"^\d{3}$")
    """Track 2 service code: 2xx = chip card (magstripe is a fallback), x0x normal authorization."""
    presented_expiry: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    channels: frozenset[Channel] | None = None
    limits: dict[Channel, LimitOverride] = Field(default_factory=dict)
    on_file: bool = True
    note: str | None = None

    @model_validator(mode="after")
    def _pan_is_digits(self) -> Card:
        if not is_valid_pan_format(self.pan):
            raise ValueError(f"card {self.id}: a PAN is 13 to 19 digits")
        return self

    @property
    def expiry_yymm(self) -> str:
        """The expiry on file as DE14 ``YYMM``."""
        return self.expiry[2:4] + self.expiry[5:7]

    @property
    def presented_yymm(self) -> str:
        """The expiry the card presents to a terminal (DE14 ``YYMM``)."""
        shown = self.presented_expiry or self.expiry
        return shown[2:4] + shown[5:7]

    @property
    def last_valid_day(self) -> date:
        """A card is valid through the last day of its expiry month."""
        year, month = int(self.expiry[:4]), int(self.expiry[5:7])
        return date(year, month, calendar.monthrange(year, month)[1])

    def __repr__(self) -> str:
        return f"<Card {self.id} {mask_pan(self.pan)} {self.product} {self.status.value}>"

    __str__ = __repr__
