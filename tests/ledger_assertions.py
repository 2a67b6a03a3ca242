"""Assertions that tie what terminals saw to what the ledger holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from terminal.shell import TransactionOutcome


def net_postings(db_path: Path) -> dict[tuple[str, int, str], bool]:
    """Every purchase transfer keyed by (TID, STAN, DE7) → True if it still stands."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT p.tid, p.stan, p.transmission_time, r.id IS NULL FROM transfers p "
            "LEFT JOIN transfers r ON r.reverses = p.id WHERE p.kind = 'purchase'"
        ).fetchall()
    return {(tid, stan, de7): bool(standing) for tid, stan, de7, standing in rows}


def assert_outcomes_match_ledger(db_path: Path, outcomes: Iterable[TransactionOutcome]) -> None:
    """Every approval a terminal received is posted and standing; every timeout and decline
    left nothing standing (a timeout's posting, if any, was reversed)."""
    postings = net_postings(db_path)
    for outcome in outcomes:
        key = (outcome.tid, outcome.stan, outcome.transmission_time)
        if outcome.approved:
            assert postings.get(key) is True, f"approval {key} has no standing posting"
        else:
            assert not postings.get(key, False), f"{outcome.verdict} {key} left a posting"
