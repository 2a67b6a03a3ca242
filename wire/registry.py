"""The terminal registry: merchants and the terminals the acquirer has installed for them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cards.currency import Country, Currency, country, currency, is_amount_text, parse_amount
from wire.protocol.codec import Encoding

__all__ = ["Merchant", "Registry", "RegistryError", "TerminalProfile", "default_registry"]


class RegistryError(ValueError):
    """The registry data is inconsistent, or a fleet larger than the registry was asked for."""


class Merchant(BaseModel):
    """A card acceptor: MID (DE42), name and city (DE43), country, MCC, and its terminals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mid: str = Field(pattern=r"^[A-Za-z0-9 ]{15}$")
    name: str = Field(min_length=1, max_length=40)
    city: str = Field(min_length=1, max_length=40)
    country: str
    mcc: str = Field(pattern=r"^[0-9]{4}$")
    tid_prefix: str = Field(pattern=r"^[A-Z0-9]{4}$")
    terminals: int = Field(ge=1, le=9999)
    mac_required: bool = False
    """Its terminals' requests must carry a MAC (DE64); one without is refused 63."""
    encoding: Encoding = Encoding.JSON
    """How its terminals write their messages: ``json`` or ``iso8583`` (binary)."""
    ecommerce: bool = False
    """A web shop paid card-not-present through its gateway's virtual terminals (its TIDs):
    every payment is on the e-commerce channel, and fleets of TPEs leave it out."""
    unreferenced_refund_limit: str = "20000"
    """The largest refund that names no sale (no DE90), in major units of its currency;
    ``"0"``: every refund must name its sale. A refund that names its sale is bounded by what
    the sale left instead (switch.rules.refunds)."""

    @field_validator("unreferenced_refund_limit")
    @classmethod
    def _plain_amount(cls, text: str) -> str:
        if not is_amount_text(text):
            raise ValueError(f"{text!r} is not an amount (major units, e.g. '20000')")
        return text

    @property
    def unreferenced_refund_max(self) -> int:
        """``unreferenced_refund_limit`` in minor units of the merchant's currency."""
        return parse_amount(self.unreferenced_refund_limit, self.currency)

    @property
    def country_info(self) -> Country:
        return country(self.country)

    @property
    def currency(self) -> Currency:
        return currency(self.country_info.currency)

    @property
    def name_location(self) -> str:
        """DE43: name padded to 23, city to 13, alpha-2 country code (40 characters)."""
        return f"{self.name[:22]:<23}{self.city[:13]:<13}{self.country:<2}".ljust(40)[:40]


@dataclass(frozen=True, slots=True)
class TerminalProfile:
    """One installed terminal (TPE): its TID and the merchant it belongs to."""

    tid: str
    merchant: Merchant

    @property
    def currency(self) -> Currency:
        return self.merchant.currency

    @property
    def country(self) -> Country:
        return self.merchant.country_info

    @property
    def mac_required(self) -> bool:
        return self.merchant.mac_required

    @property
    def encoding(self) -> Encoding:
        return self.merchant.encoding

    def __repr__(self) -> str:
        return f"<TerminalProfile {self.tid} {self.merchant.mid} {self.merchant.country}>"


class Registry:
    """All terminals of all merchants, with lookup by TID and fleets chosen round-robin."""

    def __init__(self, merchants: list[Merchant]) -> None:
        self.merchants = tuple(merchants)
        prefixes = [m.tid_prefix for m in merchants]
        if len(set(prefixes)) != len(prefixes):
            raise RegistryError("two merchants share a tid_prefix")
        for merchant in merchants:
            country(merchant.country)

    @cached_property
    def _by_tid(self) -> dict[str, TerminalProfile]:
        return {
            f"{m.tid_prefix}{n:04d}": TerminalProfile(f"{m.tid_prefix}{n:04d}", m)
            for m in self.merchants
            for n in range(1, m.terminals + 1)
        }

    @cached_property
    def _tpe_merchants(self) -> tuple[Merchant, ...]:
        """The merchants with TPEs (not web shops): those fleets are taken from."""
        return tuple(m for m in self.merchants if not m.ecommerce)

    def __len__(self) -> int:
        return sum(m.terminals for m in self.merchants)

    def get(self, tid: str) -> TerminalProfile | None:
        """The terminal with id ``tid``, or None when the acquirer never installed it."""
        return self._by_tid.get(tid)

    def merchant(self, mid: str) -> Merchant | None:
        """The merchant with DE42 ``mid`` (surrounding blanks ignored), if registered."""
        return next((m for m in self.merchants if m.mid.strip() == mid.strip()), None)

    def terminals(self) -> list[TerminalProfile]:
        """Every terminal installed, TPEs and web shops' virtual terminals, merchant by
        merchant."""
        return list(self._by_tid.values())

    def web_shops(self) -> list[TerminalProfile]:
        """The first virtual terminal of each web shop (``ecommerce`` merchants)."""
        return [self._by_tid[f"{m.tid_prefix}0001"] for m in self.merchants if m.ecommerce]

    def fleet(self, count: int) -> list[TerminalProfile]:
        """``count`` terminals taken round-robin across merchants (so a small fleet is varied)."""
        if count < 1:
            raise RegistryError("a fleet has at least one terminal")
        installed = sum(m.terminals for m in self._tpe_merchants)
        if count > installed:
            raise RegistryError(f"the registry has {installed} TPEs; {count} were asked for")
        fleet: list[TerminalProfile] = []
        round_ = 1
        while len(fleet) < count:
            for merchant in self._tpe_merchants:
                if round_ <= merchant.terminals and len(fleet) < count:
                    tid = f"{merchant.tid_prefix}{round_:04d}"
                    fleet.append(self._by_tid[tid])
            round_ += 1
        return fleet

    @classmethod
    def from_yaml(cls, text: str, origin: str) -> Registry:
        raw: Any = yaml.safe_load(text)
        try:
            merchants = [Merchant.model_validate(m) for m in raw["merchants"]]
        except (KeyError, TypeError, ValidationError) as exc:
            raise RegistryError(f"{origin}: {exc}") from None
        return cls(merchants)

    @classmethod
    def load(cls, path: Path | None = None) -> Registry:
        """The registry in ``path``, or the shipped one (``wire/data/merchants.yaml``)."""
        if path is None:
            return default_registry()
        return cls.from_yaml(path.read_text("utf-8"), str(path))


@cache
def default_registry() -> Registry:
    """The shipped registry: 8 merchants in Algeria, Morocco and Tunisia, 200 terminals."""
    text = resources.files("wire.data").joinpath("merchants.yaml").read_text("utf-8")
    return Registry.from_yaml(text, "wire/data/merchants.yaml")
