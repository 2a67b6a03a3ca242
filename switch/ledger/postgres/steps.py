"""The PostgreSQL ledger's SQL and its write steps (asyncpg), inside a transaction the caller
(switch.ledger.postgres.store.PgLedger) opened: the counterpart of switch.ledger.sqlite.steps
for SQLite."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from switch.ledger.clearing import ClearingLine
from switch.ledger.errors import DuplicateRequestError
from switch.ledger.events import BATCH_CLOSE, Answer, Rows
from switch.ledger.rules import LedgerAccount, Transfer
from switch.ledger.sql import CLEAR, CLEARABLE, COLUMNS, UNRESOLVED, statement_for
from switch.ledger.sqlite.steps import (
    FAILED_OUTCOME,
    STORED_DIGEST,
    existing_outcome,
    failed_outcome,
    named_outcome,
    raise_if_refused,
    remembered,
)
from switch.ledger.twophase import Outcome

__all__ = [
    "DUE",
    "EXPIRE",
    "TICK",
    "RefusedTransfer",
    "clear",
    "ensure_accounts",
    "fetch",
    "insert",
    "pg_sql",
    "plain_row",
    "post",
    "store_answer",
]

_PLACEHOLDER = re.compile(r"\?(\d*)")


@functools.lru_cache(maxsize=256)
def pg_sql(sql: str) -> str:
    """SQLite's placeholders (``?`` and ``?N``) as PostgreSQL's ``$N``. The ledger's SQL never
    has a ``?`` inside a literal."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: f"${m.group(1) or next(counter)}", sql)


_NEW_TRANSFER = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest, expires_us)
VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
    CASE WHEN $18 = 'pending' AND $19::bigint > 0 THEN $20::bigint + $21::bigint * 1000000 END)
"""  # noqa: S608 - constant text
_RESOLVE = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest)
SELECT $1, $2, $3, $4, COALESCE(h.debit_account, $5), COALESCE(h.credit_account, $6),
    CASE WHEN h.id IS NULL OR ($3 = 'post' AND $7::bigint <> 0) THEN $7::bigint
        ELSE h.amount END,
    COALESCE(h.currency, $8), $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
FROM (SELECT 1) AS one LEFT JOIN transfers h ON h.id = $4 AND h.phase = 'pending'
"""  # noqa: S608 - constant text
EXPIRE = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest)
SELECT 'expire:' || id, 'expiry', 'expire', id, debit_account, credit_account, amount, currency, 0,
    card_id, tid, stan, transmission_time, issuer_day, business_day, rrn, $1, ''
FROM transfers WHERE id = $2 ON CONFLICT DO NOTHING
"""  # noqa: S608 - constant text; another worker's sweep may expire the hold first
TICK = "UPDATE ledger_clock SET last_us = GREATEST(last_us, $1) RETURNING last_us"
"""The transaction's time: never before any committed one's (the row stays locked until
COMMIT, so the writers of one ledger stamp and commit one after another)."""
DUE = (
    "SELECT h.id FROM transfers h WHERE h.expires_us > $1 AND h.expires_us <= $2 "  # noqa: S608
    f"AND {UNRESOLVED} ORDER BY h.expires_us, h.seq"
)
_ACCOUNT = (
    "INSERT INTO accounts (id, kind, currency, participant, debits_must_not_exceed_credits) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING"
)
_FAILED = "INSERT INTO failed_transfers VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
_CARD_SECURITY = (
    "INSERT INTO card_security (card_id, pin_failures, last_atc, updated_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (card_id) DO UPDATE SET "
    "pin_failures = excluded.pin_failures, last_atc = excluded.last_atc, "
    "updated_at = excluded.updated_at"
)


def plain_row(row: Iterable[Any]) -> tuple[Any, ...]:
    """A row with PostgreSQL's NUMERIC sums (Decimal) as the integers they are (minor units)."""
    return tuple(int(v) if isinstance(v, Decimal) else v for v in row)


async def fetch(
    conn: asyncpg.Connection | PoolConnectionProxy, sql: str, *params: Any
) -> list[tuple[Any, ...]]:
    """The rows of the SQLite-dialect ``sql``, as plain tuples (sums as integers)."""
    return [plain_row(row) for row in await conn.fetch(pg_sql(sql), *params)]


def _statement(transfer: Transfer, at_us: int) -> tuple[str, Sequence[Any]]:
    _, params = statement_for(transfer, at_us)
    return (_RESOLVE if transfer.pending_id else _NEW_TRANSFER), params


async def clear(
    conn: asyncpg.Connection, day: date, run: str, lines: list[ClearingLine], now: int
) -> None:
    """Post every clearable hold of ``day`` in full (as the SQLite ledger's ``clear``)."""
    ids = [f"clearing:{run}:{n}" for n in range(1, len(lines) + 1)]
    await conn.executemany(
        pg_sql(CLEAR),
        [
            (clearing_id, x.debit_account, x.credit_account, x.amount, x.currency,
             x.card_id or None, day.isoformat(), now, "", run)
            for clearing_id, x in zip(ids, lines, strict=True)
        ],
    )  # fmt: skip
    cleared = 0
    for clearing_id, x in zip(ids, lines, strict=True):
        status = await conn.execute(
            "INSERT INTO cleared_holds (hold_seq, clearing_id) "  # noqa: S608 - constant
            "SELECT h.seq, $1 FROM transfers h WHERE h.debit_account = $2 "
            "AND h.credit_account = $3 AND COALESCE(h.card_id, '') = $4 AND h.kind = $5 "
            f"AND h.currency = $6 AND {pg_sql(CLEARABLE.replace('?1', '?7'))}",
            clearing_id, x.debit_account, x.credit_account, x.card_id,
            x.kind.value, x.currency, day.isoformat(),
        )  # fmt: skip
        cleared += int(status.rsplit(" ", 1)[-1])
    expected = sum(line.count for line in lines)
    if cleared != expected:
        raise RuntimeError(f"settlement {run}: cleared {cleared} holds, expected {expected}")


async def ensure_accounts(conn: asyncpg.Connection, accounts: Iterable[LedgerAccount]) -> None:
    rows = [
        (a.id, a.kind.value, a.currency, a.participant, int(a.debits_must_not_exceed_credits))
        for a in accounts
    ]
    if rows:
        await conn.executemany(_ACCOUNT, rows)


async def insert(
    conn: asyncpg.Connection, transfer: Transfer, now: int, *, remember_failure: bool = False
) -> Outcome:
    """Insert ``transfer`` through the rule triggers, in a savepoint; its outcome."""
    try:
        async with conn.transaction():
            await conn.execute(*_flat(_statement(transfer, now)))
    except asyncpg.IntegrityConstraintViolationError as exc:
        outcome = await _refusal(conn, transfer, exc)
    else:
        return Outcome.OK
    if remember_failure and remembered(outcome):
        await conn.execute(_FAILED, transfer.id, transfer.digest, outcome.value, now)
    return outcome


def _flat(statement: tuple[str, Sequence[Any]]) -> tuple[Any, ...]:
    return (statement[0], *statement[1])


class RefusedTransfer(Exception):  # noqa: N818 - a signal to the group, not an error shown
    """The database refused ``transfer`` inside an event: raised out of the event, whose
    savepoint then rolls back; :meth:`raise_why` reads why on the usable transaction."""

    def __init__(
        self, transfer: Transfer, error: asyncpg.IntegrityConstraintViolationError
    ) -> None:
        super().__init__(f"{transfer.id}: {error}")
        self.transfer = transfer
        self.error = error

    async def raise_why(self, conn: asyncpg.Connection) -> NoReturn:
        """Raise the ledger error the refusal stands for (sqlite.steps.raise_if_refused)."""
        outcome = await _refusal(conn, self.transfer, self.error)
        raise_if_refused(self.transfer, outcome)
        raise RuntimeError(f"{self.transfer.id}: refused, yet its outcome reads {outcome}")


async def _refusal(
    conn: asyncpg.Connection, transfer: Transfer, exc: asyncpg.IntegrityConstraintViolationError
) -> Outcome:
    """The outcome a refusal by the rules or the constraints stands for."""
    constraint = getattr(exc, "constraint_name", None)
    message = str(exc)
    if constraint == "transfers_id_unique":
        message = "exists"  # another worker made it between the rule check and the insert
    elif constraint == "transfers_one_resolution":
        phase = await conn.fetchval(
            "SELECT phase FROM transfers WHERE pending_id = $1", transfer.pending_id
        )
        return {"post": Outcome.PENDING_ALREADY_POSTED, "void": Outcome.PENDING_ALREADY_VOIDED}.get(
            phase, Outcome.PENDING_EXPIRED
        )
    elif constraint == "debits_within_credits":
        return Outcome.EXCEEDS_CREDITS
    if message == "exists":
        return existing_outcome(transfer, await _by_id(conn, STORED_DIGEST, transfer.id))
    if message == "id_already_failed":
        return failed_outcome(transfer, await _by_id(conn, FAILED_OUTCOME, transfer.id))
    return named_outcome(transfer, message)


async def _by_id(conn: asyncpg.Connection, sql: str, transfer_id: str) -> tuple[Any, ...] | None:
    """The row the SQLite-dialect ``sql`` finds for ``transfer_id``, if any."""
    row = await conn.fetchrow(pg_sql(sql), transfer_id)
    return None if row is None else tuple(row)


async def post(
    conn: asyncpg.Connection,
    transfers: Sequence[Transfer],
    accounts: Iterable[LedgerAccount],
    rows: Rows,
    now: int,
) -> None:
    """Make ``transfers`` and insert ``rows`` in the event under way, with no savepoint of their
    own: a refused transfer raises :class:`RefusedTransfer`, which rolls the whole event back
    before the refusal is told apart (switch.ledger.postgres.group)."""
    await ensure_accounts(conn, accounts)
    for transfer in transfers:
        try:
            await conn.execute(*_flat(_statement(transfer, now)))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise RefusedTransfer(transfer, exc) from None
    for sql, params in rows:
        await conn.execute(pg_sql(sql), *params)


async def store_answer(
    conn: asyncpg.Connection, answer: Answer, first_transfer: str | None, stamp: str
) -> None:
    """As switch.ledger.sqlite.steps.store_answer; DuplicateRequestError when the key is taken."""
    if (state := answer.card_state) is not None:
        await conn.execute(_CARD_SECURITY, state.card_id, state.pin_failures, state.last_atc,
                           stamp)  # fmt: skip
    if answer.batch_close is not None:
        await conn.execute(pg_sql(BATCH_CLOSE), *answer.batch_close, stamp)
    if answer.orphan_reversal_of is not None:
        await conn.execute("INSERT INTO orphan_reversals VALUES ($1, $2, $3, $4) "
                           "ON CONFLICT DO NOTHING", *answer.orphan_reversal_of, stamp)  # fmt: skip
    try:  # no savepoint of its own: a duplicate rolls the whole event back (pg_group)
        await conn.execute(
            "INSERT INTO requests VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *answer.key, answer.mti, answer.digest, answer.response_code, answer.response,
            first_transfer, stamp,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateRequestError(str(exc)) from None
