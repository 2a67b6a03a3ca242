"""What a run leaves in its ledger, summed up for the trace: same run, same summary."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

__all__ = [
    "APPROVED",
    "NOT_HELD",
    "UNKNOWN",
    "available_balances",
    "business_days",
    "ledger_summary",
    "receipt_mismatches",
    "transfer_counts",
    "unheld",
]

APPROVED, NOT_HELD, UNKNOWN = "approved", "not held", "unknown"
"""What a terminal told its user of a request, as the receipt oracle reads it: approved (the
money must be held), declined or reversed (it must not be), or unknown to the terminal itself
(a reversal left unresolved, an offline approval): either way is right."""


def _rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def unheld(db: Path, hold_ids: list[str]) -> list[str]:
    """Of ``hold_ids`` (the holds of approvals a terminal saw), those the ledger does not hold
    durably: missing, or voided since (an expired hold was held; the checker judges its
    expiry). Each is a lost approval."""
    standing = {
        hold
        for (hold,) in _rows(
            db,
            "SELECT h.id FROM transfers h WHERE h.phase = 'pending' AND NOT EXISTS "
            "(SELECT 1 FROM transfers r WHERE r.pending_id = h.id AND r.phase = 'void')",
        )
    }
    return [hold for hold in hold_ids if hold not in standing]


def receipt_mismatches(db: Path, reported: dict[str, str], tids: list[str]) -> list[str]:
    """Where what terminals ``tids`` reported (``reported``: hold id → APPROVED, NOT_HELD or
    UNKNOWN) and the ledger disagree, both ways: a request reported declined or reversed that
    the ledger holds, and a hold of theirs no terminal reported approved (money taken behind
    a receipt that says otherwise). Approved but not held is :func:`unheld`'s to report."""
    if not tids:
        return []
    marks = ", ".join("?" for _ in tids)
    held = {
        hold
        for (hold,) in _rows(
            db,
            "SELECT h.id FROM transfers h WHERE h.phase = 'pending' "  # noqa: S608 - placeholders
            "AND h.kind IN ('purchase', 'refund', 'preauth') "
            f"AND h.tid IN ({marks}) AND NOT EXISTS (SELECT 1 FROM transfers r "
            "WHERE r.pending_id = h.id AND r.phase = 'void') AND NOT EXISTS "
            "(SELECT 1 FROM transfers c WHERE c.id = 'reversal:' || h.id)",
            tuple(tids),
        )
    }
    problems = [
        f"{hold}: the terminal reported it declined or reversed, the ledger holds it"
        for hold in sorted(held)
        if reported.get(hold) == NOT_HELD
    ]
    problems += [
        f"{hold}: held by the ledger, never reported approved by its terminal"
        for hold in sorted(held)
        if hold not in reported
    ]
    return problems


def business_days(db: Path) -> list[date]:
    """The business days the ledger's holds and completions belong to, oldest first."""
    rows = _rows(db, "SELECT DISTINCT business_day FROM transfers WHERE business_day IS NOT NULL "
                     "AND phase IN ('pending', 'post') ORDER BY 1")  # fmt: skip
    return [date.fromisoformat(str(day)) for (day,) in rows]


def transfer_counts(db: Path) -> dict[str, int]:
    """How many transfers of each ``kind/phase`` the ledger holds."""
    rows = _rows(db, "SELECT kind || '/' || phase, count(*) FROM transfers GROUP BY 1")
    return dict(rows)


def available_balances(db: Path) -> dict[str, tuple[int, str]]:
    """Every account's available balance (credits posted - debits posted - debits pending,
    minor units) and currency."""
    rows = _rows(
        db,
        "SELECT id, credits_posted - debits_posted - debits_pending, currency FROM accounts",
    )
    return {account: (amount, currency) for account, amount, currency in rows}


def ledger_summary(db: Path) -> list[str]:
    """One line per (kind, phase) of the ledger's transfers: how many, and their total in
    minor units per currency. Ids, times and STANs are left out, so two runs of the same
    scenario and seed give the same lines."""
    rows = _rows(
        db,
        "SELECT kind, phase, currency, count(*), sum(amount) FROM transfers"
        " GROUP BY kind, phase, currency ORDER BY kind, phase, currency",
    )
    return [f"ledger {kind} {phase} {currency}: {n} for {total}" for kind, phase, currency, n,
            total in rows]  # fmt: skip
