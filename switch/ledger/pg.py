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
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from importlib import resources
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg

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

T = TypeVar("T")

_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)
"""The database is gone or unreachable: the event may be tried again."""

SCHEMA_VERSION = 3
_SCHEMA_LOCK = 0x7470_6573  # advisory lock: workers opening one ledger at once create it once


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
            row = await self._conn.fetchrow(steps.pg_sql(sql), *params)
        return None if row is None else steps.plain_row(row)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            return await steps.fetch(self._conn, sql, *params)

    async def _first_rows(
        self, queries: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[Any, ...] | None]:
        async with self._lock:
            rows = [
                await self._conn.fetchrow(steps.pg_sql(sql), *params) for sql, params in queries
            ]
        return [None if row is None else steps.plain_row(row) for row in rows]

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
                    now = await self._conn.fetchval(steps.TICK, self.stamps.tick())
                    self.stamps.tick(now)
                    if sweep:
                        await self._sweep(now)
                    return await work(self._conn, now)
            except _UNAVAILABLE as exc:
                self._swept_us = swept  # the expiries rolled back with the event: sweep again
                raise LedgerUnavailableError(f"{self}: {exc}") from None
            except BaseException:
                self._swept_us = swept
                raise

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
