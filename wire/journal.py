"""A terminal's batch journal (pure): one line per transaction it believes stands, sent in the
0500's DE124, and the totals it reports beside them. The terminal writes it; the
switch reads it to reconcile the batch against its ledger (switch.rules.reconcile)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EntryKind", "JournalEntry", "Totals", "journal_totals"]


class EntryKind(StrEnum):
    """What a line of the terminal's journal says about one transaction."""

    SALE = "S"
    REFUND = "R"
    REVERSAL_PENDING = "P"
    """A sale the terminal timed out on and reversed, its 0400 not acknowledged: not counted."""
    OFFLINE = "O"
    """A sale approved offline (under the floor limit), still to be uploaded: counted."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    kind: EntryKind
    stan: int
    amount: int

    def encode(self) -> str:
        """The DE124 line, e.g. ``S000123:150000``."""
        return f"{self.kind.value}{self.stan:06d}:{self.amount}"

    @classmethod
    def parse(cls, line: str) -> JournalEntry:
        stan, amount = line[1:].split(":")
        return cls(EntryKind(line[0]), int(stan), int(amount))

    @property
    def counted(self) -> bool:
        return self.kind is not EntryKind.REVERSAL_PENDING


@dataclass(frozen=True, slots=True)
class Totals:
    """Count and amount (minor units) of sales and of refunds."""

    sales: int = 0
    sales_amount: int = 0
    refunds: int = 0
    refunds_amount: int = 0


def journal_totals(entries: Iterable[JournalEntry]) -> Totals:
    """The totals a terminal reports for its journal (pending reversals left out)."""
    sales = [e for e in entries if e.counted and e.kind is not EntryKind.REFUND]
    refunds = [e for e in entries if e.kind is EntryKind.REFUND]
    return Totals(
        len(sales), sum(e.amount for e in sales), len(refunds), sum(e.amount for e in refunds)
    )
