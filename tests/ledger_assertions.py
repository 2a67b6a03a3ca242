"""Assertions that tie what terminals saw to what the ledger holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import asyncpg

from switch.ledger.where import postgres_location
from terminal.shell.tpe import TransactionOutcome

Postings = dict[tuple[str, int, str], bool]

_STANDING = (
    "SELECT h.tid, h.stan, h.transmission_time, "
    "(r.id IS NULL OR r.phase = 'post') AND c.id IS NULL FROM transfers h "
    "LEFT JOIN transfers r ON r.pending_id = h.id "
    "LEFT JOIN transfers c ON c.id = 'reversal:' || h.id AND c.phase = 'single' "
    "WHERE h.kind = 'purchase' AND h.phase = 'pending'"
)


def net_postings(db_path: Path) -> Postings:
    """Every purchase hold keyed by (TID, STAN, DE7) → True if it still stands (pending or
    posted, neither voided nor expired nor corrected by a late reversal)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute(_STANDING).fetchall()
    return {(tid, stan, de7): bool(standing) for tid, stan, de7, standing in rows}


async def pg_net_postings(location: str) -> Postings:
    """:func:`net_postings` of the PostgreSQL ledger at ``location`` (a URL with its schema)."""
    where = postgres_location(location)
    assert where is not None, location
    dsn, schema = where
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch(_STANDING)
    finally:
        await conn.close()
    return {(tid, stan, de7): bool(standing) for tid, stan, de7, standing in rows}


def assert_outcomes_match_ledger(db_path: Path, outcomes: Iterable[TransactionOutcome]) -> None:
    """Every approval a terminal received is posted and standing; every timeout and decline
    left nothing standing (a timeout's posting, if any, was reversed)."""
    assert_outcomes_match_postings(net_postings(db_path), outcomes)


def assert_outcomes_match_postings(
    postings: Postings, outcomes: Iterable[TransactionOutcome]
) -> None:
    """:func:`assert_outcomes_match_ledger` against postings already read."""
    for outcome in outcomes:
        key = (outcome.tid, outcome.stan, outcome.transmission_time)
        if outcome.approved:
            assert postings.get(key) is True, f"approval {key} has no standing posting"
        else:
            assert not postings.get(key, False), f"{outcome.verdict} {key} left a posting"
