"""Set-based application of a batch of transfers: the fast path of group commit.

Row by row, every transfer runs its rule trigger and its counter trigger (~20 µs of SQLite
each). A batch of new transfers (holds or single transfers) or of resolutions (posts, voids) can
instead be staged, checked with a handful of set-based queries that accept it only if every
transfer would have been accepted row by row, inserted in one statement (marked ``batch = 1``
so the per-row triggers stand aside) and the account counters moved once per account. When any
check fails the batch is dropped and applied row by row, so each refusal gets its outcome.

Why the checks suffice: in a batch of new transfers only debits can make an account fall short,
and the batch's debits on an account add up; if their total fits what the account has available
before the batch, every prefix fits too (credits inside the batch only add to it). In a batch of
resolutions each names a distinct hold that is pending and unresolved, and a post takes at most
its hold, so no resolution can affect another.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

__all__ = ["BATCH_MIN", "apply_batch"]

BATCH_MIN = 64
"""Smaller batches go row by row (the set-based queries cost more than they save)."""

_IDS_TAKEN = """
    (SELECT COUNT(*) FROM temp.staging s WHERE EXISTS (SELECT 1 FROM transfers t WHERE t.id = s.id)
        OR EXISTS (SELECT 1 FROM failed_transfers f WHERE f.id = s.id))
    + (SELECT COUNT(*) - COUNT(DISTINCT id) FROM temp.staging)
"""
_NEW_REFUSED = f"""
SELECT {_IDS_TAKEN}
    + (SELECT COUNT(*) FROM temp.staging s
        LEFT JOIN accounts d ON d.id = s.debit_account
        LEFT JOIN accounts c ON c.id = s.credit_account
        WHERE s.pending_id IS NOT NULL OR s.phase NOT IN ('single', 'pending')
        OR d.id IS NULL OR c.id IS NULL OR s.debit_account = s.credit_account
        OR s.amount IS NULL OR s.amount <= 0
        OR d.currency != s.currency OR c.currency != s.currency)
    + (SELECT COUNT(*) FROM (SELECT debit_account, SUM(amount) AS total FROM temp.staging
            GROUP BY debit_account) x
        JOIN accounts a ON a.id = x.debit_account
        WHERE a.debits_must_not_exceed_credits
        AND a.credits_posted - a.debits_posted - a.debits_pending < x.total)
"""  # noqa: S608 - constant text
_RESOLUTIONS_REFUSED = f"""
SELECT {_IDS_TAKEN}
    + (SELECT COUNT(*) - COUNT(DISTINCT pending_id) FROM temp.staging)
    + (SELECT COUNT(*) FROM temp.staging s
        LEFT JOIN transfers h ON h.id = s.pending_id AND h.phase = 'pending'
        WHERE s.pending_id IS NULL OR s.phase NOT IN ('post', 'void') OR h.id IS NULL
        OR EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = s.pending_id)
        OR EXISTS (SELECT 1 FROM cleared_holds c WHERE c.hold_seq = h.seq)
        OR s.amount IS NULL OR s.amount <= 0 OR s.amount > h.amount
        OR (s.phase = 'void' AND s.amount != h.amount))
"""  # noqa: S608 - constant text
_MOVE_NEW = """
UPDATE accounts SET
    debits_pending = debits_pending + x.pending, debits_posted = debits_posted + x.posted
FROM (SELECT debit_account AS account,
        SUM(CASE WHEN phase = 'pending' THEN amount ELSE 0 END) AS pending,
        SUM(CASE WHEN phase = 'single' THEN amount ELSE 0 END) AS posted
      FROM temp.staging GROUP BY debit_account) x
WHERE accounts.id = x.account;
UPDATE accounts SET
    credits_pending = credits_pending + x.pending, credits_posted = credits_posted + x.posted
FROM (SELECT credit_account AS account,
        SUM(CASE WHEN phase = 'pending' THEN amount ELSE 0 END) AS pending,
        SUM(CASE WHEN phase = 'single' THEN amount ELSE 0 END) AS posted
      FROM temp.staging GROUP BY credit_account) x
WHERE accounts.id = x.account;
"""
_MOVE_RESOLUTIONS = """
UPDATE accounts SET
    debits_pending = debits_pending - x.released, debits_posted = debits_posted + x.posted
FROM (SELECT s.debit_account AS account, SUM(h.amount) AS released,
        SUM(CASE WHEN s.phase = 'post' THEN s.amount ELSE 0 END) AS posted
      FROM temp.staging s JOIN transfers h ON h.id = s.pending_id GROUP BY s.debit_account) x
WHERE accounts.id = x.account;
UPDATE accounts SET
    credits_pending = credits_pending - x.released, credits_posted = credits_posted + x.posted
FROM (SELECT s.credit_account AS account, SUM(h.amount) AS released,
        SUM(CASE WHEN s.phase = 'post' THEN s.amount ELSE 0 END) AS posted
      FROM temp.staging s JOIN transfers h ON h.id = s.pending_id GROUP BY s.credit_account) x
WHERE accounts.id = x.account;
"""


async def apply_batch(
    db: aiosqlite.Connection,
    columns: str,
    statements: Sequence[tuple[str, Sequence[Any]]],
    minimum: int = BATCH_MIN,
) -> bool:
    """Apply ``statements`` (all INSERTs of the same kind: new transfers, or resolutions) set
    based, inside the caller's transaction; False, with nothing changed, when the batch is
    small, mixed, or any transfer in it would be refused."""
    kinds = {sql for sql, _ in statements}
    if len(statements) < minimum or len(kinds) != 1:
        return False
    (sql,) = kinds
    resolutions = "FROM (SELECT 1) LEFT JOIN transfers h" in sql
    await db.execute("CREATE TEMP TABLE IF NOT EXISTS staging AS SELECT * FROM transfers WHERE 0")
    await db.execute("DELETE FROM temp.staging")
    await db.execute("SAVEPOINT bulk")
    try:
        await db.executemany(
            sql.replace("INSERT INTO transfers", "INSERT INTO temp.staging", 1),
            [params for _, params in statements],
        )
        async with db.execute(_RESOLUTIONS_REFUSED if resolutions else _NEW_REFUSED) as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] != 0:
            raise _RefusedError
        everything = f"{columns}, at_us, digest, expires_us"
        await db.execute(
            f"INSERT INTO transfers ({everything}, batch) "  # noqa: S608 - constant text
            f"SELECT {everything}, 1 FROM temp.staging ORDER BY rowid"
        )
        for update in (_MOVE_RESOLUTIONS if resolutions else _MOVE_NEW).split(";"):
            if update.strip():
                await db.execute(update)
    except (_RefusedError, sqlite3.IntegrityError):
        await db.execute("ROLLBACK TO bulk")
        await db.execute("RELEASE bulk")
        return False
    except BaseException:
        await db.execute("ROLLBACK TO bulk")
        await db.execute("RELEASE bulk")
        raise
    await db.execute("RELEASE bulk")
    return True


class _RefusedError(Exception):
    """Some transfer of the batch would be refused: apply it row by row instead."""
