"""DE54, additional amounts: a balance in an inquiry's answer, the cash given back with a
purchase. Up to six blocks of 20 characters, each: account type (2), amount type (2), ISO 4217
numeric currency (3), C (credit) or D (debit), amount in minor units (12). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import StringConstraints

__all__ = [
    "AVAILABLE_BALANCE",
    "CASH_BACK",
    "LEDGER_BALANCE",
    "AdditionalAmount",
    "AdditionalAmounts",
    "amount_of",
    "format_amounts",
    "parse_amounts",
]

LEDGER_BALANCE = "01"
"""Amount type: the account's balance, holds not deducted."""
AVAILABLE_BALANCE = "02"
"""Amount type: what the cardholder can spend now (balance less holds)."""
CASH_BACK = "40"
"""Amount type: the cash the merchant hands over with a purchase (DE3 09), part of DE4."""

_BLOCK = r"[0-9]{2}[0-9]{2}[0-9]{3}[CD][0-9]{12}"
AdditionalAmounts = Annotated[str, StringConstraints(pattern=rf"^(?:{_BLOCK}){{1,6}}$")]
"""DE54 as on the wire (JSON and binary alike)."""
_BLOCKS = re.compile(rf"{_BLOCK}")


@dataclass(frozen=True, slots=True)
class AdditionalAmount:
    """One block: ``amount`` in minor units of ``currency`` (ISO numeric), negative for a
    debit balance."""

    amount_type: str
    currency: str
    amount: int
    account_type: str = "00"

    def encode(self) -> str:
        sign = "D" if self.amount < 0 else "C"
        return f"{self.account_type}{self.amount_type}{self.currency}{sign}{abs(self.amount):012d}"


def format_amounts(amounts: list[AdditionalAmount]) -> str:
    """DE54 for ``amounts`` (one to six)."""
    if not 1 <= len(amounts) <= 6:
        raise ValueError(f"DE54 holds one to six amounts, not {len(amounts)}")
    return "".join(amount.encode() for amount in amounts)


def parse_amounts(field: str) -> list[AdditionalAmount]:
    """The blocks of a DE54 already validated as :data:`AdditionalAmounts`."""
    blocks = []
    for block in _BLOCKS.findall(field):
        value = int(block[8:])
        blocks.append(AdditionalAmount(block[2:4], block[4:7], -value if block[7] == "D" else value,
                                       block[0:2]))  # fmt: skip
    return blocks


def amount_of(field: str | None, amount_type: str) -> AdditionalAmount | None:
    """The first block of ``amount_type`` in DE54 ``field`` (None when absent)."""
    if not field:
        return None
    return next((a for a in parse_amounts(field) if a.amount_type == amount_type), None)
