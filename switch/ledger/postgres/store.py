"""The ledger on PostgreSQL (asyncpg): the interface, rules and answers of the SQLite ledger
(switch.ledger.sqlite.store), for switch workers in several processes sharing one ledger.

The schema (pg_schema.sql) holds the same tables and the same rule triggers, so the database,
not the caller, refuses an overdraft, a second resolution of a hold or a reused id, whichever
worker tries. The SQL text is the SQLite ledger's wherever the two dialects agree (its ``?``
placeholders become ``$N``); the statements that differ are here.

Writes are grouped as on SQLite (switch.ledger.postgres.group: one transaction and one COMMIT for
the events that arrive together, a savepoint each). A transfer the database refuses rolls its
event back, then the refusal is told apart and reported (pg_steps.RefusedTransfer); ``apply``,
which goes on after a refusal, gives each transfer a savepoint of its own. Reads run on a pool
of connections of their own. A ledger lives in one PostgreSQL schema (``schema``), so tests and
benches can each have their own in one database.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from importlib import resources
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg

from cards.catalog import CardSet
from switch.ledger.clearing import ClearingPlan as Plan
from switch.ledger.clearing import Planner
from switch.ledger.errors import LedgerUnavailableError
from switch.ledger.events import Answer, BatchClose, Rows
from switch.ledger.postgres import steps
from switch.ledger.postgres.group import PgGroupCommit
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
    SCHEMA_VERSION,
    UNSETTLED_POSTED,
    account_from_row,
    clearing_line_from_row,
    transfer_from_row,
)
from switch.ledger.stamps import Stamps
from switch.ledger.twophase import Outcome
from wire.clock import Clock, SystemClock

__all__ = ["PgLedger"]


T = TypeVar("T")

READERS = 4
"""Connections a ledger reads on, besides the one it writes on."""
_SCHEMA_LOCK = 0x7470_6573  # advisory lock: workers opening one ledger at once create it once
_CLAIM_CLASS = 0x7470_7377
"""The switch's claim on a ledger: advisory lock (this, CRC-32 of the schema name, 31 bits)."""
_CLAIM_HOLDER = """
SELECT a.pid, a.client_addr::text AS client_addr FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid AND l.objid = $2::bigint::oid
  AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()
LIMIT 1"""


class PgLedger(LedgerReads):
    """Async access to a PostgreSQL ledger; ``async with await PgLedger.open(dsn, cards)``."""

    _QUEUE_ORDER = "seq"

    def __init__(
        self, conn: asyncpg.Connection, reads: asyncpg.Pool, dsn: str, schema: str, clock: Clock
    ) -> None:
        super().__init__(None)
        self._conn = conn
        self._reads = reads
        """Connections of their own for reads, so they need not wait for the writes."""
        self.dsn = dsn
        self.schema = schema
        self.stamps = Stamps(clock)
        self._swept_us = 0
        self.writes = PgGroupCommit(conn, self.stamps, self._opening, repr(self))
        """The single writer of the writing connection."""

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

    async def claim(self, *, shared: bool) -> str | None:
        """Take the switch's claim on this ledger (switch.ledger.claim): a session advisory
        lock on the writing connection, exclusive unless ``shared``, held until it closes.
        None once taken; else who holds it (backend pid and client address)."""
        take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        key = zlib.crc32(self.schema.encode()) & 0x7FFF_FFFF
        if await self._conn.fetchval(f"SELECT {take}($1::int, $2::int)", _CLAIM_CLASS, key):
            return None
        holder = await self._conn.fetchrow(_CLAIM_HOLDER, _CLAIM_CLASS, key)
        if holder is None:
            return "another switch"
        return (
            f"PostgreSQL backend {holder['pid']} from {holder['client_addr'] or 'a local socket'}"
        )

    async def close(self) -> None:
        """Commit the open group, if any, and close the connections."""
        try:
            await self.writes.close()
        finally:
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
        """``work(connection, now_us)`` as one event of the open group
        (switch.ledger.postgres.group), after the expiry sweep of a group it opens, unless
        ``sweep`` is off."""
        return await self.writes.grouped(work, sweep=sweep)

    async def _opening(self, conn: asyncpg.Connection, now: int, sweep: bool) -> Callable[[], None]:
        """A group's first step: the expiry sweep (if ``sweep``); undoing it restores the mark."""
        swept = self._swept_us

        def undo() -> None:
            self._swept_us = swept  # the expiries rolled back with the group: sweep again

        try:
            if sweep:
                await self._sweep(now)
        except BaseException:
            undo()
            raise
        return undo

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
        """As the SQLite ledger's :meth:`~switch.ledger.sqlite.store.Ledger.record`: the answer and
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
        """As the SQLite ledger's :meth:`~switch.ledger.sqlite.store.Ledger.settle`, in one
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
            await steps.post(conn, plan.transfers, plan.accounts, plan.rows, now)
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
