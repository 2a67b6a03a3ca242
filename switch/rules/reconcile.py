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

from cards.currency import Currency, format_amount
from wire.journal import EntryKind, JournalEntry, Totals

__all__ = [
    "LedgerItem",
    "ledger_totals",
    "reconcile",
]


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """One of the terminal's transactions of the day as the ledger has it."""

    stan: int
    refund: bool
    amount: int
    state: str
    """``standing`` (held or cleared), ``voided`` (reversed) or ``expired``."""


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
