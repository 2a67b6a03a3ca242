"""The ledger on PostgreSQL (asyncpg): the interface, rules and answers of the SQLite ledger
(switch.ledger.store), for switch workers in several processes sharing one ledger.

The schema (pg_schema.sql) holds the same tables and the same rule triggers, so the database,
not the caller, refuses an overdraft, a second resolution of a hold or a reused id, whichever
worker tries. The SQL text is the SQLite ledger's wherever the two dialects agree (its ``?``
placeholders become ``$N``); the statements that differ are here.

Group commit, as on SQLite (switch.ledger.group): the events that arrive while a group is open
share its transaction and its COMMIT, each in a savepoint of its own, so a refused event rolls
back alone and raises at once; a writer is answered only after the COMMIT that makes its event
durable. Each transfer runs in a savepoint too, so a refusal can be told apart and reported.

Timestamps come from the ledger's clock row (``ledger_clock``): a group locks it first and,
just before its COMMIT, moves it to the last time it gave, so the writers of one ledger, in
whatever process, stamp in commit order. A ledger lives in one PostgreSQL schema (``schema``),
so tests and benches can each have their own in one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from importlib import resources
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg
from asyncpg.transaction import Transaction

from cards.catalog import CardSet
from switch.clock import Clock, SystemClock
from switch.ledger import pg_steps as steps
from switch.ledger.clearing import ClearingPlan as Plan
from switch.ledger.errors import LedgerUnavailableError
from switch.ledger.reads import (
    CardState,
    Key,
    LedgerReads,
)
from switch.ledger.rules import LedgerAccount, Transfer, opening_transfers
from switch.ledger.sql import (
    ACCOUNTS,
    CLEARING_LINES,
    RUNS_ON_DAY,
    UNSETTLED_POSTED,
    account_from_row,
    clearing_line_from_row,
    transfer_from_row,
)
from switch.ledger.stamps import Stamps
from switch.ledger.steps import Answer, BatchClose, Rows
from switch.ledger.store import Planner
from switch.ledger.twophase import Outcome

__all__ = ["PgLedger"]


class _Group:
    """One open transaction and the writers waiting for its COMMIT."""

    __slots__ = ("committed", "events", "swept_us", "transaction")

    def __init__(
        self, transaction: Transaction, committed: asyncio.Future[None], swept_us: int
    ) -> None:
        self.transaction = transaction
        self.committed = committed
        self.swept_us = swept_us
        """The sweep mark before the group: restored if the group does not commit."""
        self.events = 0


T = TypeVar("T")

_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)
"""The database is gone or unreachable: the event may be tried again."""

SCHEMA_VERSION = 3
READERS = 4
"""Connections a ledger reads on, besides the one it writes on."""
_SCHEMA_LOCK = 0x7470_6573  # advisory lock: workers opening one ledger at once create it once


class PgLedger(LedgerReads):
    """Async access to a PostgreSQL ledger; ``async with await PgLedger.open(dsn, cards)``."""

    _QUEUE_ORDER = "seq"

    def __init__(
        self, conn: asyncpg.Connection, reads: asyncpg.Pool, dsn: str, schema: str, clock: Clock
    ) -> None:
        super().__init__(None)
        self._conn = conn
        self._lock = asyncio.Lock()
        """The writing connection, one operation at a time (asyncpg's rule)."""
        self._reads = reads
        """Connections of their own for reads, so they need not wait for the writes."""
        self.dsn = dsn
        self.schema = schema
        self.stamps = Stamps(clock)
        self._swept_us = 0
        self._group: _Group | None = None
        self._committers: set[asyncio.Task[None]] = set()
        self.groups = 0
        """Groups committed so far."""
        self.events = 0
        """Events committed so far (events / groups: the mean group size)."""

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
        settings = {"search_path": schema}
        try:
            conn = await asyncpg.connect(dsn, server_settings=settings)
        except (OSError, asyncpg.PostgresError) as exc:
            raise LedgerUnavailableError(f"cannot connect to {dsn}: {exc}") from None
        reads: asyncpg.Pool | None = None
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
            reads = await asyncpg.create_pool(
                dsn, min_size=1, max_size=READERS, server_settings=settings
            )
            ledger = cls(conn, reads, dsn, schema, clock or SystemClock())
            if cards is not None:
                accounts, transfers = opening_transfers(cards)
                await ledger.apply(transfers, accounts=accounts)
        except BaseException:
            if reads is not None:
                await reads.close()
            await conn.close()
            raise
        return ledger

    async def close(self) -> None:
        """Commit the open group, if any, and close the connections."""
        async with self._lock:
            if self._group is not None:
                await self._commit(self._group)
            await self._conn.close()
        await self._reads.close()

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

    # Reads see what is committed: a writer is answered only once its event is, and the switch
    # reads only what belongs to the card and terminal whose requests it holds in turn.

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        async with self._reads.acquire() as conn:
            row = await conn.fetchrow(steps.pg_sql(sql), *params)
        return None if row is None else steps.plain_row(row)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._reads.acquire() as conn:
            return await steps.fetch(conn, sql, *params)

    async def _first_rows(
        self, queries: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[Any, ...] | None]:
        """The first row of each of ``queries`` (SQL, parameters), in one statement: each query
        becomes a column holding its first row as a record (a round trip costs more here than
        the queries)."""
        sql = "SELECT " + ", ".join(  # noqa: S608 - the ledger's own constant SQL texts
            f"(SELECT ROW(q.*) FROM ({text}) AS q LIMIT 1)"  # noqa: S608
            for text, _ in queries
        )
        params = [value for _, values in queries for value in values]
        async with self._reads.acquire() as conn:
            row = await conn.fetchrow(steps.pg_sql(sql), *params)
        assert row is not None  # a SELECT without FROM gives one row
        return [None if first is None else steps.plain_row(first) for first in row]

    # -- writes --------------------------------------------------------------------------

    async def _event(
        self, work: Callable[[asyncpg.Connection, int], Awaitable[T]], *, sweep: bool = True
    ) -> T:
        """``work(connection, now_us)`` in its own savepoint of the open group (opening one, with
        the expiry sweep unless ``sweep`` is off, if none is); its result once the group has
        committed. ``work`` raising rolls back its own statements only and the exception
        comes back at once. LedgerUnavailableError: the group could not begin or commit;
        nothing of the event stays. A cancelled caller stops waiting, but the event runs to its
        end on the connection (as an SQLite event does on its thread), so the group's
        transaction stays whole."""
        running = asyncio.ensure_future(self._grouped(work, sweep))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            running.add_done_callback(_retrieved)
            raise

    async def _grouped(
        self, work: Callable[[asyncpg.Connection, int], Awaitable[T]], sweep: bool
    ) -> T:
        async with self._lock:
            group = self._group or await self._open_group(sweep)
            try:
                async with self._conn.transaction():  # a savepoint of the group's transaction
                    result = await work(self._conn, self.stamps.tick())
            except _UNAVAILABLE as exc:
                raise LedgerUnavailableError(f"{self}: {exc}") from None
            group.events += 1
        await asyncio.shield(group.committed)
        return result

    async def _open_group(self, sweep: bool) -> _Group:
        """With the lock held: BEGIN, lock the clock row, sweep the holds due (if ``sweep``);
        a committer
        queues on the lock behind the writers already waiting, who join the group."""
        swept = self._swept_us
        transaction = self._conn.transaction()
        started = False
        try:
            await transaction.start()
            started = True
            now = await self._conn.fetchval(steps.TICK, self.stamps.tick())
            self.stamps.tick(now)
            if sweep:
                await self._sweep(now)
        except BaseException as exc:
            self._swept_us = swept
            if not self._conn.is_closed() and started:
                with contextlib.suppress(*_UNAVAILABLE, asyncpg.PostgresError):
                    await transaction.rollback()
            if isinstance(exc, _UNAVAILABLE):
                raise LedgerUnavailableError(f"{self}: {exc}") from None
            raise
        loop = asyncio.get_running_loop()
        group = self._group = _Group(transaction, loop.create_future(), swept)
        committer = loop.create_task(self._commit_when_free(group), name="pg-ledger-commit")
        self._committers.add(committer)
        committer.add_done_callback(self._committers.discard)
        return group

    async def _commit_when_free(self, group: _Group) -> None:
        try:
            async with self._lock:
                if self._group is group:
                    await self._commit(group)
        finally:
            if not group.committed.done():  # cancelled (the loop is closing): say so
                group.committed.set_exception(LedgerUnavailableError("the ledger was closed"))
                group.committed.exception()

    async def _commit(self, group: _Group) -> None:
        """With the lock held: hand the clock row the group's last time, then COMMIT."""
        self._group = None
        try:
            await self._conn.execute(steps.TICK, self.stamps.last_us)
            await group.transaction.commit()
        except Exception as error:  # the connection is gone, or the COMMIT failed
            self._swept_us = group.swept_us  # the expiries rolled back with the group
            if not self._conn.is_closed():
                with contextlib.suppress(*_UNAVAILABLE, asyncpg.PostgresError):
                    await group.transaction.rollback()
            group.committed.set_exception(LedgerUnavailableError(f"{self}: {error}"))
            group.committed.exception()  # retrieved: a group nobody awaits any more is no error
            return
        self.groups += 1
        self.events += group.events
        group.committed.set_result(None)

    async def _sweep(self, now: int) -> list[str]:
        """Expire the holds due since the last sweep, up to ``now`` (µs); their ids."""
        due = [str(row[0]) for row in await self._conn.fetch(steps.DUE, self._swept_us, now)]
        if due:
            await self._conn.executemany(steps.EXPIRE, [(now, hold_id) for hold_id in due])
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
            await steps.ensure_accounts(conn, accounts)
            return [await steps.insert(conn, t, now, remember_failure=True) for t in transfers]

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
        card_state: CardState | None = None,
        batch_close: BatchClose | None = None,
        rows: Rows = (),
    ) -> None:
        """As the SQLite ledger's :meth:`~switch.ledger.store.Ledger.record`: the answer and
        its transfers in one transaction, committed before it returns."""
        answer = Answer(key, mti, digest, response_code, response, orphan_reversal_of,
                        card_state, batch_close)  # fmt: skip
        first = transfers[0].id if transfers else None

        async def work(conn: asyncpg.Connection, now: int) -> None:
            await steps.post(conn, transfers, accounts, rows, now)
            await steps.store_answer(conn, answer, first, self.stamps.stamp())

        await self._event(work)

    async def post(
        self,
        transfers: Sequence[Transfer],
        *,
        accounts: Iterable[LedgerAccount] = (),
        rows: Rows = (),
    ) -> None:
        """Atomically make ``transfers`` and insert ``rows``; raises as :meth:`record` does."""
        await self._event(lambda conn, now: steps.post(conn, transfers, accounts, rows, now))

    async def settle(
        self,
        day: date,
        planner: Planner,
    ) -> Plan | None:
        """As the SQLite ledger's :meth:`~switch.ledger.store.Ledger.settle`, in one
        transaction."""

        async def work(conn: asyncpg.Connection, now: int) -> Plan | None:
            today = day.isoformat()
            lines = [
                clearing_line_from_row(r) for r in await steps.fetch(conn, CLEARING_LINES, today)
            ]
            posted = [
                transfer_from_row(r) for r in await steps.fetch(conn, UNSETTLED_POSTED, today)
            ]
            if not lines and not posted:
                return None
            accounts = {a.id: a for a in map(account_from_row, await steps.fetch(conn, ACCOUNTS))}
            runs = await conn.fetchval(steps.pg_sql(RUNS_ON_DAY), today)
            run = f"{today}#{int(runs or 0) + 1}"
            plan = planner(run, lines, posted, accounts)
            await steps.clear(conn, day, run, lines, now)
            await steps.post(conn, plan.transfers, plan.accounts, (), now)
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


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of an event whose caller was cancelled as seen."""
    if not task.cancelled():
        task.exception()
