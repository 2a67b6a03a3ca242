"""Batch reconciliation (pure): a terminal's 0500 totals and journal against the ledger.

The terminal counts the sales and refunds it believes stand; the ledger knows which holds of
that terminal and business day stand (pending or cleared), which were voided by a reversal and
which expired. Matching them item by item (by STAN) explains every difference in words a
merchant's support desk can act on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cards.currency import Currency, format_amount

__all__ = [
    "EntryKind",
    "JournalEntry",
    "LedgerItem",
    "Totals",
    "journal_totals",
    "ledger_totals",
    "reconcile",
]


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
class LedgerItem:
    """One of the terminal's transactions of the day as the ledger has it."""

    stan: int
    refund: bool
    amount: int
    state: str
    """``standing`` (held or cleared), ``voided`` (reversed) or ``expired``."""


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


def ledger_totals(items: Iterable[LedgerItem]) -> Totals:
    """The totals of the items that stand in the ledger."""
    standing = [i for i in items if i.state == "standing"]
    sales = [i for i in standing if not i.refund]
    refunds = [i for i in standing if i.refund]
    return Totals(
        len(sales), sum(i.amount for i in sales), len(refunds), sum(i.amount for i in refunds)
    )


def reconcile(
    entries: Iterable[JournalEntry], items: Iterable[LedgerItem], currency: Currency
) -> list[str]:
    """One explanation per difference between the terminal's journal and the ledger (empty
    when they agree item by item), in STAN order."""
    entries, items = list(entries), list(items)

    def money(amount: int) -> str:
        return format_amount(amount, currency, symbol=currency.code)

    notes: dict[int, str] = {}
    seen = Counter(e.stan for e in entries)
    for stan, times in seen.items():
        if times > 1:
            notes[stan] = (
                f"STAN {stan:06d}: listed {times} times in the terminal's journal "
                "(duplicate advice counted more than once)"
            )
    ledger = {i.stan: i for i in items}
    for entry in entries:
        if entry.stan in notes:
            continue
        item = ledger.get(entry.stan)
        what = "refund" if entry.kind is EntryKind.REFUND else "sale"
        standing = item is not None and item.state == "standing"
        if item is not None and standing and item.amount != entry.amount:
            notes[entry.stan] = (
                f"STAN {entry.stan:06d}: the terminal counts {money(entry.amount)}, the switch "
                f"approved {money(item.amount)}"
            )
        elif entry.kind is EntryKind.REVERSAL_PENDING and standing:
            notes[entry.stan] = (
                f"STAN {entry.stan:06d} sale {money(entry.amount)}: the terminal timed out and "
                "reversed it, but the reversal never reached the switch (lost reversal); the "
                "sale stands at the switch"
            )
        elif entry.kind is EntryKind.OFFLINE and item is None:
            notes[entry.stan] = (
                f"STAN {entry.stan:06d} sale {money(entry.amount)}: approved offline by the "
                "terminal and not uploaded (no 0220 advice reached the switch)"
            )
        elif entry.counted and item is None:
            notes[entry.stan] = (
                f"STAN {entry.stan:06d} {what} {money(entry.amount)}: counted by the terminal, "
                "never approved by the switch"
            )
        elif entry.counted and not standing and item is not None:
            notes[entry.stan] = (
                f"STAN {entry.stan:06d} {what} {money(entry.amount)}: counted by the terminal, "
                f"but {item.state} at the switch (late reversal)"
                if item.state == "voided"
                else f"STAN {entry.stan:06d} {what} {money(entry.amount)}: counted by the "
                "terminal, but its hold expired at the switch"
            )
    for item in items:
        if item.state == "standing" and item.stan not in seen:
            what = "refund" if item.refund else "sale"
            notes[item.stan] = (
                f"STAN {item.stan:06d} {what} {money(item.amount)}: approved at the switch but "
                "unknown to the terminal (a timeout never reversed)"
            )
    return [notes[stan] for stan in sorted(notes)]
