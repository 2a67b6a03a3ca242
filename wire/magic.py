"""Magic amounts: amounts whose digits force a response code or a lost response (data file)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cards.currency import Currency

__all__ = ["MagicAmounts", "MagicOutcome", "magic_amounts"]


@dataclass(frozen=True, slots=True)
class MagicOutcome:
    """What a magic amount forces: a response code, or (``code`` None) no response at all."""

    code: str | None
    no_response: bool


@dataclass(frozen=True, slots=True)
class MagicAmounts:
    """The magic-amount table: trigger major part and the endings that force an outcome."""

    trigger_major: int
    forced_codes: frozenset[str]
    no_response: str

    def outcome(self, amount: int, cur: Currency) -> MagicOutcome | None:
        """The forced outcome for ``amount`` minor units of ``cur``, or None for a normal one."""
        if amount // cur.unit != self.trigger_major:
            return None
        ending = f"{amount % 100:02d}"
        if ending == self.no_response:
            return MagicOutcome(code=None, no_response=True)
        if ending in self.forced_codes:
            return MagicOutcome(code=ending, no_response=False)
        return None

    def amount_for(self, ending: str, cur: Currency) -> int:
        """The magic amount (minor units of ``cur``) whose outcome is ``ending``."""
        return self.trigger_major * cur.unit + int(ending)


@cache
def magic_amounts() -> MagicAmounts:
    """The shipped magic-amount table (``wire/data/magic_amounts.yaml``)."""
    text = resources.files("wire.data").joinpath("magic_amounts.yaml").read_text("utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    return MagicAmounts(
        trigger_major=int(raw["trigger_major"]),
        forced_codes=frozenset(raw["forced_codes"]),
        no_response=str(raw["no_response"]),
    )
