"""The cardholder side of the card set: the PIN each holder types (``cards/data/holders.yaml``).

Terminals, traffic and the CLI read it; the switch never does (the issuer only has PVVs).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["holder_pin"]


@cache
def _holders() -> tuple[str, dict[str, str]]:
    text = resources.files("cards.data").joinpath("holders.yaml").read_text("utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    return str(raw["default_pin"]), {str(k): str(v) for k, v in raw.get("pins", {}).items()}


def holder_pin(card_id: str) -> str:
    """The PIN the holder of card ``card_id`` types."""
    default, pins = _holders()
    return pins.get(card_id, default)
