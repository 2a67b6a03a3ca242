"""Batch reconciliation: every kind of difference between a terminal's journal and the ledger
gets its own explanation; agreement gets none."""

from __future__ import annotations

from datetime import date

import pytest

from cards.currency import currency
from switch.flows.batch import batch_day
from switch.rules.reconcile import LedgerItem, ledger_totals, reconcile
from wire.journal import EntryKind, JournalEntry, Totals, journal_totals

DZD = currency("DZD")
S, R, P, OFF = EntryKind.SALE, EntryKind.REFUND, EntryKind.REVERSAL_PENDING, EntryKind.OFFLINE


def test_agreement_has_no_difference_and_equal_totals() -> None:
    journal = [JournalEntry(S, 1, 1_000), JournalEntry(R, 2, 300)]
    ledger = [
        LedgerItem(1, False, 1_000, "standing"),
        LedgerItem(2, True, 300, "standing"),
        LedgerItem(3, False, 9_999, "voided"),  # reversed at both ends
    ]
    assert reconcile(journal, ledger, DZD) == []
    assert journal_totals(journal) == ledger_totals(ledger) == Totals(1, 1_000, 1, 300)


@pytest.mark.parametrize(
    ("journal", "ledger", "expected"),
    [
        ([JournalEntry(P, 7, 500)], [LedgerItem(7, False, 500, "standing")], "lost reversal"),
        ([], [LedgerItem(7, False, 500, "standing")], "a timeout never reversed"),
        ([JournalEntry(OFF, 7, 500)], [], "approved offline by the terminal and not uploaded"),
        ([JournalEntry(S, 7, 500)] * 2, [LedgerItem(7, False, 500, "standing")], "duplicate"),
        ([JournalEntry(S, 7, 500)], [LedgerItem(7, False, 500, "voided")], "late reversal"),
        ([JournalEntry(S, 7, 500)], [LedgerItem(7, False, 500, "expired")], "expired"),
        ([JournalEntry(S, 7, 500)], [LedgerItem(7, False, 600, "standing")], "approved 6,00"),
        ([JournalEntry(S, 7, 500)], [], "never approved by the switch"),
    ],
)
def test_each_difference_is_explained(
    journal: list[JournalEntry], ledger: list[LedgerItem], expected: str
) -> None:
    (explanation,) = reconcile(journal, ledger, DZD)
    assert explanation.startswith("STAN 000007") and expected in explanation


def test_journal_lines_round_trip() -> None:
    entry = JournalEntry(P, 123, 150_000)
    assert entry.encode() == "P000123:150000"
    assert JournalEntry.parse(entry.encode()) == entry
    assert not entry.counted


def test_batch_day_places_mmdd_in_the_right_year() -> None:
    assert batch_day("1123", date(2026, 11, 23)) == date(2026, 11, 23)
    assert batch_day("1231", date(2027, 1, 1)) == date(2026, 12, 31)
    assert batch_day("0102", date(2027, 1, 1)) == date(2027, 1, 2)  # a terminal a day ahead
    with pytest.raises(ValueError, match="not a date"):
        batch_day("0230", date(2027, 1, 1))
