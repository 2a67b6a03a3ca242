"""The cardholder side of a card set (``holders.yaml``): the PIN each holder was issued, the PIN
each one actually types, which chips are faulty and which plastics show a wrong CVV2.

Terminals, traffic and the CLI read it; the switch never does (the issuer only has PVVs). The
shipped file is ``cards/data/holders.yaml``; ``tpesim cards issue`` writes others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "Holders",
    "default_holders",
    "has_faulty_chip",
    "has_wrong_cvv2",
    "holder_pin",
    "issued_pin",
    "load_holders",
]


@dataclass(frozen=True)
class Holders:
    """What the holders of a card set know and carry."""

    default_pin: str = "1234"
    pins: dict[str, str] = field(default_factory=dict, repr=False)
    types: dict[str, str] = field(default_factory=dict, repr=False)
    faulty_chips: frozenset[str] = frozenset()
    wrong_cvv2: frozenset[str] = frozenset()

    def issued_pin(self, card_id: str) -> str:
        """The PIN the issuer gave the holder of ``card_id`` (its PVV is computed from it)."""
        return self.pins.get(card_id, self.default_pin)

    def holder_pin(self, card_id: str) -> str:
        """The PIN the holder of ``card_id`` types (the issued one unless the data says not)."""
        return self.types.get(card_id, self.issued_pin(card_id))

    def has_faulty_chip(self, card_id: str) -> bool:
        """True when the chip of ``card_id`` makes cryptograms the issuer cannot verify."""
        return card_id in self.faulty_chips

    def has_wrong_cvv2(self, card_id: str) -> bool:
        """True when the plastic of ``card_id`` shows a CVV2 the issuer does not recognise."""
        return card_id in self.wrong_cvv2

    def to_yaml(self) -> str:
        data: dict[str, Any] = {"default_pin": self.default_pin, "pins": self.pins}
        if self.types:
            data["types"] = self.types
        if self.faulty_chips:
            data["faulty_chips"] = sorted(self.faulty_chips)
        if self.wrong_cvv2:
            data["wrong_cvv2"] = sorted(self.wrong_cvv2)
        return yaml.safe_dump(data, sort_keys=False)


def _parse(raw: dict[str, Any]) -> Holders:
    return Holders(
        default_pin=str(raw.get("default_pin", "1234")),
        pins={str(k): str(v) for k, v in (raw.get("pins") or {}).items()},
        types={str(k): str(v) for k, v in (raw.get("types") or {}).items()},
        faulty_chips=frozenset(str(c) for c in raw.get("faulty_chips") or ()),
        wrong_cvv2=frozenset(str(c) for c in raw.get("wrong_cvv2") or ()),
    )


@cache
def default_holders() -> Holders:
    """The holders of the shipped card set."""
    text = resources.files("cards.data").joinpath("holders.yaml").read_text("utf-8")
    return _parse(yaml.safe_load(text))


def load_holders(path: Path | None = None) -> Holders:
    """The holders file at ``path``, or the shipped one."""
    if path is None:
        return default_holders()
    return _parse(yaml.safe_load(path.read_text("utf-8")) or {})


def issued_pin(card_id: str) -> str:
    """:meth:`Holders.issued_pin` for the shipped card set."""
    return default_holders().issued_pin(card_id)


def holder_pin(card_id: str) -> str:
    """:meth:`Holders.holder_pin` for the shipped card set."""
    return default_holders().holder_pin(card_id)


def has_faulty_chip(card_id: str) -> bool:
    """:meth:`Holders.has_faulty_chip` for the shipped card set."""
    return default_holders().has_faulty_chip(card_id)


def has_wrong_cvv2(card_id: str) -> bool:
    """:meth:`Holders.has_wrong_cvv2` for the shipped card set."""
    return default_holders().has_wrong_cvv2(card_id)
