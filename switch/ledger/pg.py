"""The ledger on PostgreSQL (asyncpg): the interface, rules and answers of the SQLite ledger
(switch.ledger.store), for switch workers in several processes sharing one ledger.

The schema (pg_schema.sql) holds the same tables and the same rule triggers, so the database,
not the caller, refuses an overdraft, a second resolution of a hold or a reused id, whichever
worker tries. The SQL text is the SQLite ledger's wherever the two dialects agree (its ``?``
placeholders become ``$N``); the statements that differ are here. Each business event is one
transaction; each transfer in it runs in a savepoint so a refusal can be told apart and
reported, as in SQLite. Timestamps come from the ledger's clock row (``ledger_clock``): the
writers of one ledger, in whatever process, stamp in commit order. A ledger lives in one
PostgreSQL schema (``schema``), so tests and benches can each have their own in one database.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from importlib import resources
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg

from cards.catalog import CardSet
from switch.clock import Clock, SystemClock
from switch.ledger.clearing import ClearingLine
from switch.ledger.clearing import ClearingPlan as Plan
from switch.ledger.errors import DuplicateRequestError, LedgerUnavailableError
from switch.ledger.reads import (
    BALANCES_SQL,
    CARD_STATE_SQL,
    PRE_REVERSED_SQL,
    SIGNED_ON_SQL,
    SPENT_ON_DAY_SQL,
    STANDIN_USAGE_SQL,
    Key,
    LedgerReads,
    PurchaseView,
    card_state_from_row,
)
from switch.ledger.rules import LedgerAccount, Transfer, opening_transfers
from switch.ledger.sql import (
    CLEAR,
    CLEARABLE,
    COLUMNS,
    UNRESOLVED,
    statement_for,
    transfer_from_row,
)
from switch.ledger.stamps import Stamps
from switch.ledger.steps import Answer, BatchClose, Rows, raise_if_refused
from switch.ledger.store import Planner
from switch.ledger.twophase import Balances, Outcome

__all__ = ["PgLedger", "pg_sql", "plain_row"]

T = TypeVar("T")

SCHEMA_VERSION = 3
_PLACEHOLDER = re.compile(r"\?(\d*)")
_SCHEMA_LOCK = 0x7470_6573  # advisory lock: workers opening one ledger at once create it once


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
_EXPIRE = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest)
SELECT 'expire:' || id, 'expiry', 'expire', id, debit_account, credit_account, amount, currency, 0,
    card_id, tid, stan, transmission_time, issuer_day, business_day, rrn, $1, ''
FROM transfers WHERE id = $2 ON CONFLICT DO NOTHING
"""  # noqa: S608 - constant text; another worker's sweep may expire the hold first
_TICK = "UPDATE ledger_clock SET last_us = GREATEST(last_us, $1) RETURNING last_us"
"""The transaction's time: never before any committed one's (the row stays locked until
COMMIT, so the writers of one ledger stamp and commit one after another)."""
_DUE = (
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


def _statement(transfer: Transfer, at_us: int) -> tuple[str, Sequence[Any]]:
    _, params = statement_for(transfer, at_us)
    return (_RESOLVE if transfer.pending_id else _NEW_TRANSFER), params


class PgLedger(LedgerReads):
    """Async access to a PostgreSQL ledger; ``async with await PgLedger.open(dsn, cards)``."""

    _QUEUE_ORDER = "seq"

    def __init__(self, conn: asyncpg.Connection, dsn: str, schema: str, clock: Clock) -> None:
        super().__init__(None)
        self._conn = conn
        self._lock = asyncio.Lock()
        """One connection, one operation at a time (asyncpg's rule)."""
        self.dsn = dsn
        self.schema = schema
        self.stamps = Stamps(clock)
        self._swept_us = 0

    @property
    def clock(self) -> Clock:
        return self.stamps.clock

    @classmethod
    async def open(
        cls,
        dsn: str,
        cards: CardSet | None = None,
        clock: Clock | None = None,
        *,
        schema: str = "tpesim",
    ) -> Self:
        """Connect to ``dsn`` and open (creating if needed) the ledger in ``schema``, posting the
        card set's opening balances once. Reopening keeps the history."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ValueError(f"schema {schema!r}: lower-case letters, digits and _ only")
        try:
            conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        except (OSError, asyncpg.PostgresError) as exc:
            raise LedgerUnavailableError(f"cannot connect to {dsn}: {exc}") from None
        try:
            async with conn.transaction():
                await conn.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                ddl = resources.files("switch.ledger").joinpath("pg_schema.sql").read_text("utf-8")
                await conn.execute(ddl)
                version = await conn.fetchval("SELECT schema_version FROM ledger_meta")
                if version is None:
                    await conn.execute("INSERT INTO ledger_meta VALUES ($1)", SCHEMA_VERSION)
                    await conn.execute("INSERT INTO ledger_clock VALUES (0)")
                elif version != SCHEMA_VERSION:
                    raise RuntimeError(
                        f"schema {schema} holds a ledger of version {version}, this tpesim "
                        f"needs {SCHEMA_VERSION}: use a new schema"
                    )
            ledger = cls(conn, dsn, schema, clock or SystemClock())
            if cards is not None:
                accounts, transfers = opening_transfers(cards)
                await ledger.apply(transfers, accounts=accounts)
        except BaseException:
            await conn.close()
            raise
        return ledger

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<PgLedger {self.schema}>"

    # -- reads ---------------------------------------------------------------------------

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        async with self._lock:
            row = await self._conn.fetchrow(pg_sql(sql), *params)
        return None if row is None else plain_row(row)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            rows = await self._conn.fetch(pg_sql(sql), *params)
        return [plain_row(row) for row in rows]

    async def purchase_view(
        self, key: Key, card: tuple[str, str] | None, day: date | None
    ) -> PurchaseView:
        async with self._lock:
            conn = self._conn
            pre_reversed = await conn.fetchrow(pg_sql(PRE_REVERSED_SQL), *key) is not None
            signed_on = await conn.fetchval(pg_sql(SIGNED_ON_SQL), key[0])
            if card is None or day is None:
                return PurchaseView(pre_reversed, bool(signed_on))
            card_id, account = card
            balances = await conn.fetchrow(pg_sql(BALANCES_SQL), account)
            spent = await conn.fetchval(pg_sql(SPENT_ON_DAY_SQL), card_id, day.isoformat())
            usage = await conn.fetchrow(pg_sql(STANDIN_USAGE_SQL), card_id, day.isoformat())
            state = await conn.fetchrow(pg_sql(CARD_STATE_SQL), card_id)
        return PurchaseView(
            pre_reversed,
            bool(signed_on),
            card_state_from_row(card_id, None if state is None else tuple(state)),
            Balances(*balances).available if balances else 0,
            int(spent or 0),
            (int(usage[0]), int(usage[1])) if usage else (0, 0),
        )

    # -- writes --------------------------------------------------------------------------

    async def _event(
        self, work: Callable[[asyncpg.Connection, int], Awaitable[T]], *, sweep: bool = True
    ) -> T:
        """``work(connection, now_us)`` in a transaction of its own, after the expiry sweep
        (unless ``sweep`` is off)."""
        async with self._lock:
            swept = self._swept_us
            try:
                async with self._conn.transaction():
                    now = await self._conn.fetchval(_TICK, self.stamps.tick())
                    self.stamps.tick(now)
                    if sweep:
                        await self._sweep(now)
                    return await work(self._conn, now)
            except BaseException as exc:
                self._swept_us = swept  # the expiries rolled back with the event: sweep again
                if isinstance(
                    exc, (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)
                ):
                    raise LedgerUnavailableError(f"{self}: {exc}") from None
                raise

    async def _sweep(self, now: int) -> list[str]:
        """Expire the holds due since the last sweep, up to ``now`` (µs); their ids."""
        due = [str(row[0]) for row in await self._conn.fetch(_DUE, self._swept_us, now)]
        if due:
            await self._conn.executemany(_EXPIRE, [(now, hold_id) for hold_id in due])
        self._swept_us = max(self._swept_us, now)
        return due

    async def set_signed_on(self, tid: str, signed_on: bool) -> None:
        async def work(conn: asyncpg.Connection, now: int) -> None:
            await conn.execute(
                "INSERT INTO terminal_sessions (tid, signed_on, updated_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (tid) DO UPDATE SET signed_on = excluded.signed_on, "
                "updated_at = excluded.updated_at",
                tid, int(signed_on), self.stamps.stamp(),
            )  # fmt: skip

        await self._event(work)

    async def apply(
        self, transfers: Sequence[Transfer], *, accounts: Iterable[LedgerAccount] = ()
    ) -> list[Outcome]:
        """Apply ``transfers`` in order in one transaction, first creating ``accounts``; each
        gets its outcome, refusals included (a refused id stays refused)."""

        async def work(conn: asyncpg.Connection, now: int) -> list[Outcome]:
            await _ensure_accounts(conn, accounts)
            return [await _insert(conn, t, now, remember_failure=True) for t in transfers]

        return await self._event(work)

    async def expire_due(self) -> list[str]:
        """Release every hold whose deadline has passed on the switch clock; their ids."""
        return await self._event(lambda conn, now: self._sweep(now), sweep=False)

    async def record(
        self,
        key: Key,
        *,
        mti: str,
        digest: str,
        response_code: str,
        response: bytes,
        transfers: Sequence[Transfer] = (),
        accounts: Iterable[LedgerAccount] = (),
        orphan_reversal_of: Key | None = None,
        card_state: Any = None,
        batch_close: BatchClose | None = None,
        rows: Rows = (),
    ) -> None:
        """As the SQLite ledger's :meth:`~switch.ledger.store.Ledger.record`: the answer and
        its transfers in one transaction, committed before it returns."""
        answer = Answer(key, mti, digest, response_code, response, orphan_reversal_of,
                        card_state, batch_close)  # fmt: skip
        first = transfers[0].id if transfers else None

        async def work(conn: asyncpg.Connection, now: int) -> None:
            await _post(conn, transfers, accounts, rows, now)
            await _store_answer(conn, answer, first, self.stamps.stamp())

        await self._event(work)

    async def post(
        self,
        transfers: Sequence[Transfer],
        *,
        accounts: Iterable[LedgerAccount] = (),
        rows: Rows = (),
    ) -> None:
        """Atomically make ``transfers`` and insert ``rows``; raises as :meth:`record` does."""
        await self._event(lambda conn, now: _post(conn, transfers, accounts, rows, now))

    async def settle(
        self,
        day: date,
        planner: Planner,
    ) -> Plan | None:
        """As the SQLite ledger's :meth:`~switch.ledger.store.Ledger.settle`, in one
        transaction."""
        lines_sql, posted_sql, runs_sql = _settlement_queries()
        accounts = {a.id: a for a in await self.accounts()}

        async def work(conn: asyncpg.Connection, now: int) -> Plan | None:
            lines = [
                ClearingLine(r[0], r[1], r[2] or "", r[3] == "refund", r[4], r[5], r[6])
                for r in map(plain_row, await conn.fetch(lines_sql, day.isoformat()))
            ]
            posted = [
                transfer_from_row(tuple(r)) for r in await conn.fetch(posted_sql, day.isoformat())
            ]
            if not lines and not posted:
                return None
            runs = await conn.fetchval(runs_sql, day.isoformat())
            run = f"{day.isoformat()}#{int(runs or 0) + 1}"
            plan = planner(run, lines, posted, accounts)
            await _clear(conn, day, run, lines, now)
            await _post(conn, plan.transfers, plan.accounts, (), now)
            await conn.executemany(
                "INSERT INTO settlement_items (transfer_id, run) VALUES ($1, $2)",
                [(t.id, run) for t in plan.settled],
            )
            await conn.executemany(
                "INSERT INTO settlement_positions VALUES ($1, $2, $3, $4, $5)",
                [(run, day.isoformat(), p, c, v) for (p, c), v in plan.positions.items()],
            )
            return plan

        return await self._event(work)


def _settlement_queries() -> tuple[str, str, str]:
    return (
        pg_sql(
            "SELECT debit_account, credit_account, card_id, kind, currency, COUNT(*), "  # noqa: S608
            f"SUM(amount) FROM transfers h WHERE {CLEARABLE} "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
        ),
        pg_sql(
            f"SELECT {COLUMNS} FROM transfers t "  # noqa: S608 - constant
            "LEFT JOIN settlement_items s ON s.transfer_id = t.id WHERE s.run IS NULL "
            "AND (kind = 'completion' OR (kind = 'reversal' AND phase = 'single')) "
            "AND business_day <= ? ORDER BY seq"
        ),
        "SELECT COUNT(DISTINCT run) FROM settlement_positions WHERE business_day = $1",
    )


async def _clear(
    conn: asyncpg.Connection, day: date, run: str, lines: list[ClearingLine], now: int
) -> None:
    """Post every clearable hold of ``day`` in full (as the SQLite ledger's ``_clear``)."""
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
            "refund" if x.refund else "purchase", x.currency, day.isoformat(),
        )  # fmt: skip
        cleared += int(status.rsplit(" ", 1)[-1])
    expected = sum(line.count for line in lines)
    if cleared != expected:
        raise RuntimeError(f"settlement {run}: cleared {cleared} holds, expected {expected}")


async def _ensure_accounts(conn: asyncpg.Connection, accounts: Iterable[LedgerAccount]) -> None:
    rows = [
        (a.id, a.kind.value, a.currency, a.participant, int(a.debits_must_not_exceed_credits))
        for a in accounts
    ]
    if rows:
        await conn.executemany(_ACCOUNT, rows)


async def _insert(
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
    if remember_failure and outcome not in (Outcome.EXISTS, Outcome.EXISTS_WITH_DIFFERENT_FIELDS):
        await conn.execute(_FAILED, transfer.id, transfer.digest, outcome.value, now)
    return outcome


def _flat(statement: tuple[str, Sequence[Any]]) -> tuple[Any, ...]:
    return (statement[0], *statement[1])


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
        stored = await conn.fetchval("SELECT digest FROM transfers WHERE id = $1", transfer.id)
        return Outcome.EXISTS if stored == transfer.digest else Outcome.EXISTS_WITH_DIFFERENT_FIELDS
    if message == "id_already_failed":
        row = await conn.fetchrow(
            "SELECT digest, outcome FROM failed_transfers WHERE id = $1", transfer.id
        )
        if row is None or row[0] != transfer.digest:
            return Outcome.EXISTS_WITH_DIFFERENT_FIELDS
        return Outcome(row[1])
    try:
        return Outcome(message)
    except ValueError:
        raise RuntimeError(f"transfer {transfer.id}: ledger error {message}") from None


async def _post(
    conn: asyncpg.Connection,
    transfers: Sequence[Transfer],
    accounts: Iterable[LedgerAccount],
    rows: Rows,
    now: int,
) -> None:
    await _ensure_accounts(conn, accounts)
    for transfer in transfers:
        raise_if_refused(transfer, await _insert(conn, transfer, now))
    for sql, params in rows:
        await conn.execute(pg_sql(sql), *params)


async def _store_answer(
    conn: asyncpg.Connection, answer: Answer, first_transfer: str | None, stamp: str
) -> None:
    """As switch.ledger.steps.store_answer; DuplicateRequestError when the key is taken."""
    if (state := answer.card_state) is not None:
        await conn.execute(_CARD_SECURITY, state.card_id, state.pin_failures, state.last_atc,
                           stamp)  # fmt: skip
    if answer.batch_close is not None:
        await conn.execute("INSERT INTO batch_closes VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                           *answer.batch_close, stamp)  # fmt: skip
    if answer.orphan_reversal_of is not None:
        await conn.execute("INSERT INTO orphan_reversals VALUES ($1, $2, $3, $4) "
                           "ON CONFLICT DO NOTHING", *answer.orphan_reversal_of, stamp)  # fmt: skip
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO requests VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                *answer.key, answer.mti, answer.digest, answer.response_code, answer.response,
                first_transfer, stamp,
            )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateRequestError(str(exc)) from None
