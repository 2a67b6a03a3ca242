"""The SQLite ledger (aiosqlite, WAL, fsync on commit): accounts, two-phase transfers, answers.

One connection is the single writer (switch.ledger.sqlite.group): each business event (transfers +
stored response + card state) is atomic, in its own savepoint, and the events that arrive
together share one COMMIT (group commit). The switch answers a terminal only after
:meth:`Ledger.record` returns, i.e. after the COMMIT that holds its event. The transfer rules
live in the database (schema.sql triggers); :meth:`Ledger.apply` reports each transfer's
:class:`~switch.ledger.twophase.Outcome`, the same the reference model gives.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from cards.catalog import CardSet
from switch.ledger.clearing import ClearingLine, Planner
from switch.ledger.clearing import ClearingPlan as Plan
from switch.ledger.errors import (
    DuplicateRequestError,
    InsufficientFundsError,
    LedgerRefusalError,
    LedgerUnavailableError,
)
from switch.ledger.events import Answer, BatchClose, Rows
from switch.ledger.reads import CardState, Key, LedgerReads, StoredRequest
from switch.ledger.rules import (
    LedgerAccount,
    Transfer,
    opening_transfers,
)
from switch.ledger.sql import (
    CLEAR,
    CLEAR_HOLDS,
    CLEARING_LINES,
    COLUMNS,
    RUNS_ON_DAY,
    SCHEMA_VERSION,
    UNSETTLED_POSTED,
    clearing_line_from_row,
    micros,
    statement_for,
    transfer_from_row,
)
from switch.ledger.sqlite import steps
from switch.ledger.sqlite.bulk import BATCH_MIN, apply_batch
from switch.ledger.sqlite.group import GroupCommit
from switch.ledger.sqlite.reader import LoopReader
from switch.ledger.stamps import Stamps
from switch.ledger.twophase import Outcome
from wire.clock import Clock, SystemClock

__all__ = [
    "BatchClose",
    "CardState",
    "DuplicateRequestError",
    "InsufficientFundsError",
    "Key",
    "Ledger",
    "LedgerRefusalError",
    "LedgerUnavailableError",
    "StoredRequest",
    "micros",
]

log = logging.getLogger("switch.ledger")

CACHE_KIB = 256 * 1024
"""Page cache of the ledger connection: a day's settlement walks indexes of millions of rows."""


class Ledger(LedgerReads):
    """Async access to the ledger database; use ``async with await Ledger.open(path, cards)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path, clock: Clock) -> None:
        super().__init__(db)
        self.path = path
        self.writes = GroupCommit(db, path, self._open_group)
        """The single writer: group commit of events, exclusive transactions."""
        self._swept_us = 0
        """Switch-clock microseconds up to which expired holds have been released."""
        self.batch_min = BATCH_MIN
        """Batches at least this long are applied set-based when every transfer passes."""
        self.stamps = Stamps(clock)
        self._closed = False
        self._reader: LoopReader | None = None
        """The event loop's own read-only connection, for :meth:`_committed_rows`."""

    @property
    def clock(self) -> Clock:
        """The switch clock the ledger stamps and expires holds by."""
        return self.stamps.clock

    @classmethod
    async def open(
        cls, path: Path, cards: CardSet | None = None, clock: Clock | None = None
    ) -> Self:
        """Open (creating if needed) the ledger at ``path`` and post the card set's opening
        balances once. Reopening an existing ledger keeps its history."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            async with db.execute("PRAGMA user_version") as cursor:
                (version,) = await cursor.fetchone() or (0,)
            async with db.execute("SELECT count(*) FROM sqlite_master") as cursor:
                (objects,) = await cursor.fetchone() or (0,)
            if objects and version != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{path} is a ledger of schema version {version}, this tpesim needs "
                    f"{SCHEMA_VERSION}: start with a new ledger file"
                )
            schema = resources.files("switch.ledger").joinpath("schema.sql").read_text("utf-8")
            await db.executescript(schema)
            ledger = cls(db, path, clock or SystemClock())
            if cards is not None:
                accounts, transfers = opening_transfers(cards)
                await ledger.apply(transfers, accounts=accounts)
            ledger._reader = LoopReader(path)
        except BaseException:
            await db.close()
            raise
        return ledger

    async def close(self) -> None:
        """Commit what is pending, fold the WAL back into the database file and close: after
        a clean stop the ``.db`` file alone is the whole ledger, even while another connection
        (``tpesim serve --attach``, a second worker) keeps SQLite from doing it on close.
        Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._reader is not None:
                self._reader.close()
            await self.writes.flush()
            await self._checkpoint()
        finally:
            await self._db.close()

    async def _checkpoint(self) -> None:
        """``PRAGMA wal_checkpoint(TRUNCATE)``: every committed page into the database file,
        the WAL emptied. A reader in the middle of a read (it may hold the WAL for up to
        ``busy_timeout``, 5 s) leaves it partial: a warning says so; the data stay safe in the
        WAL and the next close or open folds them in."""
        try:
            async with self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                busy, frames, done = await cursor.fetchone() or (0, 0, 0)
        except sqlite3.Error as error:
            log.warning("ledger %s: WAL not checkpointed at close (%s)", self.path, error)
            return
        if busy or done < frames:
            log.warning("ledger %s: WAL checkpointed %d of %d pages at close (a reader holds the "
                        "rest); copy the ledger with `tpesim ledger backup`, not cp",
                        self.path, max(done, 0), frames)  # fmt: skip

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
        return f"<Ledger {self.path}>"

    # -- writes --------------------------------------------------------------------------

    def _open_group(self, db: sqlite3.Connection) -> Callable[[], None]:
        """First in each group's transaction: release the holds past their deadline. Returns
        what puts the sweep back should the group not commit."""
        swept = self._swept_us
        self._sweep(db, self._tick())

        def undo() -> None:
            self._swept_us = swept

        return undo

    def _sweep(self, db: sqlite3.Connection, now: int) -> list[str]:
        """Expire the holds due since the last sweep, up to ``now`` (µs); their ids."""
        expired = steps.expire_due(db, self._swept_us, now)
        self._swept_us = max(self._swept_us, now)
        return expired

    async def set_signed_on(self, tid: str, signed_on: bool) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO terminal_sessions (tid, signed_on, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (tid) DO UPDATE SET signed_on = excluded.signed_on, "
                "updated_at = excluded.updated_at",
                (tid, int(signed_on), self._stamp()),
            )

        await self.writes.grouped(work)

    async def apply(
        self, transfers: Sequence[Transfer], *, accounts: Iterable[LedgerAccount] = ()
    ) -> list[Outcome]:
        """Apply ``transfers`` in order in one transaction of their own (a bulk load), first
        creating ``accounts`` that do not exist yet and expiring holds past their deadline;
        each gets its outcome, refusals included (a refused transfer stays refused under its
        id)."""
        # Statements are prepared before taking the lock, so with two callers one batch is
        # built while the other's is in SQLite (the sqlite3 module releases the GIL there).
        prepared = micros(self.clock.now())
        statements = [statement_for(t, prepared) for t in transfers]
        async with self.writes.transaction():
            now = self._tick(prepared)
            if now != prepared:  # another writer stamped a later time meanwhile
                statements = [statement_for(t, now) for t in transfers]

            def opening(db: sqlite3.Connection) -> None:
                steps.ensure_accounts(db, accounts)
                self._sweep(db, now)

            await self._run(opening)
            return await self._insert_all(transfers, now, statements)

    async def expire_due(self) -> list[str]:
        """Release every hold whose deadline has passed on the switch clock; their ids."""
        async with self.writes.transaction():
            return await self._run(lambda db: self._sweep(db, self._tick()))

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
        """Atomically store a request's answer with the transfers it makes (all or nothing);
        returns once it is committed (group commit: with the other events of its group).

        ``accounts`` are created on first use. ``orphan_reversal_of`` remembers a reversal whose
        original is unknown. ``card_state`` is the card's new security state. ``rows`` are
        further (SQL, parameters) inserts of the same event. The stored request points at the
        first transfer. Raises InsufficientFundsError or LedgerRefusalError (nothing stored)
        when the ledger refuses a transfer, DuplicateRequestError when another writer answered
        ``key`` first, LedgerUnavailableError when the database cannot be written.
        """
        answer = Answer(key, mti, digest, response_code, response, orphan_reversal_of,
                        card_state, batch_close)  # fmt: skip
        first = transfers[0].id if transfers else None

        def work(db: sqlite3.Connection) -> None:
            steps.post(db, transfers, accounts, rows, self._tick())
            steps.store_answer(db, answer, first, self._stamp())

        await self.writes.grouped(work)

    async def post(
        self,
        transfers: Sequence[Transfer],
        *,
        accounts: Iterable[LedgerAccount] = (),
        rows: Rows = (),
    ) -> None:
        """Atomically make ``transfers`` and insert ``rows`` (all or nothing); raises as
        :meth:`record` does."""
        await self.writes.grouped(
            lambda db: steps.post(db, transfers, accounts, rows, self._tick())
        )

    async def settle(self, day: date, planner: Planner) -> Plan | None:
        """Run one settlement of business ``day`` in one transaction: ``planner(run, lines,
        posted, accounts)`` is given the day's pending purchase and refund holds summed up per
        (accounts, card) and the unsettled completions and corrections; the holds are posted in
        bulk, the plan's fees made, the settled items and net positions stored. None when there
        is nothing to settle."""
        async with self.writes.transaction():
            return await self._settle(day, planner)

    async def _settle(self, day: date, planner: Planner) -> Plan | None:
        now = self._tick()
        await self._run(lambda db: self._sweep(db, now))
        today = (day.isoformat(),)
        lines = [clearing_line_from_row(r) for r in await self._all(CLEARING_LINES, today)]
        posted = [transfer_from_row(r) for r in await self._all(UNSETTLED_POSTED, today)]
        if not lines and not posted:
            return None
        row = await self._one(RUNS_ON_DAY, today)
        run = f"{day.isoformat()}#{(row[0] if row else 0) + 1}"
        accounts = {a.id: a for a in await self.accounts()}
        plan = planner(run, lines, posted, accounts)
        await self._clear(day, run, lines, now)
        await self._run(lambda db: steps.post(db, plan.transfers, plan.accounts, plan.rows, now))
        await self._db.executemany(
            "INSERT INTO settlement_items (transfer_id, run) VALUES (?, ?)",
            [(t.id, run) for t in plan.settled],
        )
        await self._db.executemany(
            "INSERT INTO settlement_positions VALUES (?, ?, ?, ?, ?)",
            [(run, day.isoformat(), p, c, v) for (p, c), v in plan.positions.items()],
        )
        return plan

    async def _clear(self, day: date, run: str, lines: list[ClearingLine], now: int) -> None:
        """Post every clearable hold of ``day`` in full: one 'clear' transfer per line (its
        trigger moves the two accounts' counters), then one narrow row per hold naming it."""
        ids = [f"clearing:{run}:{n}" for n in range(1, len(lines) + 1)]
        await self._db.executemany(
            CLEAR,
            [
                (clearing_id, x.debit_account, x.credit_account, x.amount, x.currency,
                 x.card_id or None, day.isoformat(), now, "", run)
                for clearing_id, x in zip(ids, lines, strict=True)
            ],
        )  # fmt: skip
        await self._db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS clearing_lines (debit_account TEXT, "
            "credit_account TEXT, card_id TEXT, kind TEXT, currency TEXT, clearing_id TEXT, "
            "PRIMARY KEY (debit_account, credit_account, card_id, kind, currency))"
        )
        await self._db.execute("DELETE FROM temp.clearing_lines")
        await self._db.executemany(
            "INSERT INTO temp.clearing_lines VALUES (?, ?, ?, ?, ?, ?)",
            [
                (x.debit_account, x.credit_account, x.card_id, x.kind.value,
                 x.currency, clearing_id)
                for clearing_id, x in zip(ids, lines, strict=True)
            ],
        )  # fmt: skip
        async with self._db.execute(CLEAR_HOLDS, (day.isoformat(),)) as cursor:
            cleared = cursor.rowcount
        expected = sum(line.count for line in lines)
        if cleared != expected:
            raise RuntimeError(f"settlement {run}: cleared {cleared} holds, expected {expected}")

    # -- internals -----------------------------------------------------------------------

    async def _committed_rows(
        self, queries: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[Any, ...] | None]:
        """On the event loop's thread, with no hop (switch.ledger.sqlite.reader); with a hop
        to the writer's thread when the reader is turned away."""
        rows = None if self._reader is None else self._reader.first_rows(queries)
        return await self._first_rows(queries) if rows is None else rows

    def _tick(self, at: int | None = None) -> int:
        return self.stamps.tick(at)

    def _stamp(self) -> str:
        return self.stamps.stamp()

    async def _insert_all(
        self,
        transfers: Sequence[Transfer],
        now: int,
        statements: Sequence[tuple[str, Sequence[Any]]],
    ) -> list[Outcome]:
        """All of ``transfers`` (as ``statements``) in order: one executemany per run of like
        statements when none is refused, else one by one."""
        if not transfers:
            return []
        if await apply_batch(self._db, COLUMNS, statements, self.batch_min):
            return [Outcome.OK] * len(transfers)
        await self._db.execute("SAVEPOINT batch")
        try:
            start = 0
            while start < len(statements):
                sql = statements[start][0]
                end = start
                while end < len(statements) and statements[end][0] == sql:
                    end += 1
                await self._db.executemany(sql, [params for _, params in statements[start:end]])
                start = end
        except sqlite3.IntegrityError:
            await self._db.execute("ROLLBACK TO batch")
            await self._db.execute("RELEASE batch")
            return await self._run(
                lambda db: [
                    steps.insert_transfer(db, t, now, remember_failure=True) for t in transfers
                ]
            )
        await self._db.execute("RELEASE batch")
        return [Outcome.OK] * len(transfers)
