"""The cardholder side of the card set (``cards/data/holders.yaml``): the PIN each holder was
issued, the PIN each one actually types, and which chips are faulty.

Terminals, traffic and the CLI read it; the switch never does (the issuer only has PVVs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["has_faulty_chip", "has_wrong_cvv2", "holder_pin", "issued_pin"]


@dataclass(frozen=True)
class _Holders:
    default_pin: str
    pins: dict[str, str]
    types: dict[str, str]
    faulty_chips: frozenset[str]
    wrong_cvv2: frozenset[str]


@cache
def _holders() -> _Holders:
    text = resources.files("cards.data").joinpath("holders.yaml").read_text("utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    return _Holders(
        default_pin=str(raw["default_pin"]),
        pins={str(k): str(v) for k, v in (raw.get("pins") or {}).items()},
        types={str(k): str(v) for k, v in (raw.get("types") or {}).items()},
        faulty_chips=frozenset(str(c) for c in raw.get("faulty_chips") or ()),
        wrong_cvv2=frozenset(str(c) for c in raw.get("wrong_cvv2") or ()),
    )


def issued_pin(card_id: str) -> str:
    """The PIN the issuer gave the holder of ``card_id`` (its PVV is computed from it)."""
    holders = _holders()
    return holders.pins.get(card_id, holders.default_pin)


def holder_pin(card_id: str) -> str:
    """The PIN the holder of ``card_id`` types (the issued one, unless the data says otherwise)."""
    return _holders().types.get(card_id, issued_pin(card_id))


def has_faulty_chip(card_id: str) -> bool:
    """True when the chip of ``card_id`` produces cryptograms the issuer cannot verify."""
    return card_id in _holders().faulty_chips


def has_wrong_cvv2(card_id: str) -> bool:
    """True when the plastic of ``card_id`` shows a CVV2 the issuer does not recognise."""
    return card_id in _holders().wrong_cvv2
