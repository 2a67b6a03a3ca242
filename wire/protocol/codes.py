"""DE39 response codes and their meaning in English, French and Arabic (data file)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["APPROVED", "ResponseCodeInfo", "all_codes", "describe"]

APPROVED = "00"


@dataclass(frozen=True, slots=True)
class ResponseCodeInfo:
    """One DE39 code: its meaning in three languages and when tpesim's switch emits it."""

    code: str
    en: str
    fr: str
    ar: str
    when: str


@cache
def all_codes() -> dict[str, ResponseCodeInfo]:
    """Every known DE39 code, keyed by code."""
    data = resources.files("wire.protocol.data")
    text = data.joinpath("response_codes.yaml").read_text("utf-8")
    raw: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return {code: ResponseCodeInfo(code=code, **info) for code, info in raw.items()}


def describe(code: str) -> ResponseCodeInfo:
    """The meaning of ``code``; unknown codes get a neutral description rather than an error."""
    known = all_codes().get(code)
    if known is not None:
        return known
    return ResponseCodeInfo(code, f"Response {code}", f"Réponse {code}", f"رد {code}", "unknown")
