"""The SQLite ledger (aiosqlite, WAL, fsync on commit): accounts, two-phase transfers, answers.

One connection is the single writer; callers are serialized by a lock so each business event
(transfers + stored response + card state) is one atomic transaction. The switch answers a
terminal only after :meth:`Ledger.record` returns, i.e. after COMMIT. The transfer rules live in
the database (schema.sql triggers); :meth:`Ledger.apply` reports each transfer's
:class:`~switch.ledger.twophase.Outcome`, the same the reference model gives.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from cards.catalog import CardSet
from switch.clock import Clock, SystemClock
from switch.ledger.bulk import BATCH_MIN, apply_batch
from switch.ledger.clearing import ClearingLine
from switch.ledger.clearing import ClearingPlan as Plan
from switch.ledger.reads import CardState, Key, LedgerReads, StoredRequest
from switch.ledger.rules import (
    LedgerAccount,
    Transfer,
    opening_transfers,
)
from switch.ledger.sql import (
    CLEAR,
    CLEAR_HOLDS,
    CLEARABLE,
    COLUMNS,
    EXPIRE,
    UNRESOLVED,
    micros,
    statement_for,
    transfer_from_row,
)
from switch.ledger.twophase import Outcome

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

SCHEMA_VERSION = 3
CACHE_KIB = 256 * 1024
"""Page cache of the ledger connection: a day's settlement walks indexes of millions of rows."""


class LedgerRefusalError(RuntimeError):
    """The ledger refused a transfer; nothing of the event was stored."""

    def __init__(self, transfer: Transfer, outcome: Outcome) -> None:
        super().__init__(f"{transfer.id}: {outcome}")
        self.transfer = transfer
        self.outcome = outcome


class InsufficientFundsError(LedgerRefusalError):
    """The database refused a hold that would overdraw a cardholder account."""


class LedgerUnavailableError(RuntimeError):
    """The database could not be written (locked by another process past the busy timeout,
    or gone); nothing of the event was stored and it may be tried again."""


class DuplicateRequestError(RuntimeError):
    """Another writer committed the same idempotency key first; nothing was stored."""


BatchClose = tuple[str, str, int, int, str, str, str]
"""A batch_closes row: TID, business day, STAN, in balance (0/1), terminal totals, ledger
totals and differences (JSON texts)."""


Planner = Callable[[str, list[ClearingLine], list[Transfer], dict[str, LedgerAccount]], Plan]
"""Decides a settlement run: (run, lines, posted, accounts) → plan."""


class Ledger(LedgerReads):
    """Async access to the ledger database; use ``async with await Ledger.open(path, cards)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path, clock: Clock) -> None:
        super().__init__(db)
        self.path = path
        self.clock = clock
        self._lock = asyncio.Lock()
        self._swept_us = 0
        """Switch-clock microseconds up to which expired holds have been released."""
        self.batch_min = BATCH_MIN
        """Batches at least this long are applied set-based when every transfer passes."""
        self._last_us = 0
        """The latest timestamp this ledger gave a transfer (timestamps never go back)."""

    @classmethod
    async def open(
        cls, path: Path, cards: CardSet | None = None, clock: Clock | None = None
    ) -> Self:
        """Open (creating if needed) the ledger at ``path`` and post the card set's opening
        balances once. Reopening an existing ledger keeps its history."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
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
        except BaseException:
            await db.close()
            raise
        return ledger

    async def close(self) -> None:
        await self._db.close()

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

    async def set_signed_on(self, tid: str, signed_on: bool) -> None:
        async with self._lock:
            await self._db.execute(
                "INSERT INTO terminal_sessions (tid, signed_on, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (tid) DO UPDATE SET signed_on = excluded.signed_on, "
                "updated_at = excluded.updated_at",
                (tid, int(signed_on), self._stamp()),
            )

    async def apply(
        self, transfers: Sequence[Transfer], *, accounts: Iterable[LedgerAccount] = ()
    ) -> list[Outcome]:
        """Apply ``transfers`` in order in one transaction (group commit), first creating
        ``accounts`` that do not exist yet and expiring holds past their deadline; each gets
        its outcome, refusals included (a refused transfer stays refused under its id)."""
        # Statements are prepared before taking the lock, so with two callers one batch is
        # built while the other's is in SQLite (the sqlite3 module releases the GIL there).
        prepared = micros(self.clock.now())
        statements = [statement_for(t, prepared) for t in transfers]
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                now = self._tick(prepared)
                if now != prepared:  # another writer stamped a later time meanwhile
                    statements = [statement_for(t, now) for t in transfers]
                await self._ensure_accounts(accounts)
                await self._expire_due(now)
                outcomes = await self._insert_all(transfers, now, statements)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        return outcomes

    async def expire_due(self) -> list[str]:
        """Release every hold whose deadline has passed on the switch clock; their ids."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                expired = await self._expire_due(self._tick())
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        return expired

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
        rows: Sequence[tuple[str, tuple[Any, ...]]] = (),
    ) -> None:
        """Atomically store a request's answer with the transfers it makes (all or nothing).

        ``accounts`` are created on first use. ``orphan_reversal_of`` remembers a reversal whose
        original is unknown. ``card_state`` is the card's new security state. ``rows`` are
        further (SQL, parameters) inserts of the same event. The stored request points at the
        first transfer. Raises InsufficientFundsError or LedgerRefusalError (nothing stored)
        when the ledger refuses a transfer, DuplicateRequestError when another writer answered
        ``key`` first.
        """
        async with self._lock:
            await self._begin()
            try:
                await self._post(transfers, accounts, rows)
                if card_state is not None:
                    await self._db.execute(
                        "INSERT INTO card_security (card_id, pin_failures, last_atc, updated_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (card_id) DO UPDATE SET "
                        "pin_failures = excluded.pin_failures, last_atc = excluded.last_atc, "
                        "updated_at = excluded.updated_at",
                        (card_state.card_id, card_state.pin_failures, card_state.last_atc,
                         self._stamp()),
                    )  # fmt: skip
                if batch_close is not None:
                    await self._db.execute(
                        "INSERT INTO batch_closes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (*batch_close, self._stamp()),
                    )
                if orphan_reversal_of is not None:
                    await self._db.execute(
                        "INSERT OR IGNORE INTO orphan_reversals VALUES (?, ?, ?, ?)",
                        (*orphan_reversal_of, self._stamp()),
                    )
                try:
                    await self._db.execute(
                        "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*key, mti, digest, response_code, response,
                         transfers[0].id if transfers else None, self._stamp()),
                    )  # fmt: skip
                except sqlite3.IntegrityError as exc:
                    if "UNIQUE" not in str(exc):
                        raise
                    raise DuplicateRequestError(str(exc)) from None
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def post(
        self,
        transfers: Sequence[Transfer],
        *,
        accounts: Iterable[LedgerAccount] = (),
        rows: Sequence[tuple[str, tuple[Any, ...]]] = (),
    ) -> None:
        """Atomically make ``transfers`` and insert ``rows`` (all or nothing); raises as
        :meth:`record` does."""
        async with self._lock:
            await self._begin()
            try:
                await self._post(transfers, accounts, rows)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE: take the write lock now (waiting up to the busy timeout)."""
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise LedgerUnavailableError(f"{self.path}: {error}") from None

    async def _post(
        self,
        transfers: Sequence[Transfer],
        accounts: Iterable[LedgerAccount],
        rows: Sequence[tuple[str, tuple[Any, ...]]],
    ) -> None:
        """Inside a transaction: accounts, the expiry sweep, ``transfers`` (raising on the
        first refusal), then ``rows``."""
        now = self._tick()
        await self._ensure_accounts(accounts)
        await self._expire_due(now)
        for transfer in transfers:
            outcome = await self._insert(transfer, now)
            if outcome in (Outcome.EXISTS, Outcome.EXISTS_WITH_DIFFERENT_FIELDS):
                raise DuplicateRequestError(f"{transfer.id}: {outcome}")
            if outcome is Outcome.EXCEEDS_CREDITS:
                raise InsufficientFundsError(transfer, outcome)
            if outcome is not Outcome.OK:
                raise LedgerRefusalError(transfer, outcome)
        for sql, params in rows:
            await self._db.execute(sql, params)

    async def settle(self, day: date, planner: Planner) -> Plan | None:
        """Run one settlement of business ``day`` in one transaction: ``planner(run, lines,
        posted, accounts)`` is given the day's pending purchase and refund holds summed up per
        (accounts, card) and the unsettled completions and corrections; the holds are posted in
        bulk, the plan's fees made, the settled items and net positions stored. None when there
        is nothing to settle."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                plan = await self._settle(day, planner)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
        return plan

    async def _settle(self, day: date, planner: Planner) -> Plan | None:
        now = self._tick()
        await self._expire_due(now)
        lines = [
            ClearingLine(row[0], row[1], row[2] or "", row[3] == "refund", row[4], row[5], row[6])
            for row in await self._all(
                "SELECT debit_account, credit_account, card_id, kind, currency, COUNT(*), "  # noqa: S608
                f"SUM(amount) FROM transfers h WHERE {CLEARABLE} "
                "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
                (day.isoformat(),),
            )
        ]
        posted = [
            transfer_from_row(row)
            for row in await self._all(
                f"SELECT {COLUMNS} FROM transfers t "  # noqa: S608 - constant
                "LEFT JOIN settlement_items s ON s.transfer_id = t.id WHERE s.run IS NULL "
                "AND (kind = 'completion' OR (kind = 'reversal' AND phase = 'single')) "
                "AND business_day <= ? ORDER BY seq",
                (day.isoformat(),),
            )
        ]
        if not lines and not posted:
            return None
        row = await self._one(
            "SELECT COUNT(DISTINCT run) FROM settlement_positions WHERE business_day = ?",
            (day.isoformat(),),
        )
        run = f"{day.isoformat()}#{(row[0] if row else 0) + 1}"
        accounts = {a.id: a for a in await self.accounts()}
        plan = planner(run, lines, posted, accounts)
        await self._clear(day, run, lines, now)
        await self._ensure_accounts(plan.accounts)
        for transfer in plan.transfers:
            outcome = await self._insert(transfer, now)
            if outcome is not Outcome.OK:
                raise LedgerRefusalError(transfer, outcome)
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
                (x.debit_account, x.credit_account, x.card_id, "refund" if x.refund else "purchase",
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

    def _tick(self, at: int | None = None) -> int:
        """The switch-clock time (µs) for the transaction under way, ``at`` or now, moved up to
        the last one given if the clock is behind it (timestamps never go back)."""
        self._last_us = max(self._last_us, micros(self.clock.now()) if at is None else at)
        return self._last_us

    def _stamp(self) -> str:
        return self.clock.now().isoformat(timespec="microseconds")

    async def _ensure_accounts(self, accounts: Iterable[LedgerAccount]) -> None:
        await self._db.executemany(
            "INSERT OR IGNORE INTO accounts (id, kind, currency, participant, "
            "debits_must_not_exceed_credits) VALUES (?, ?, ?, ?, ?)",
            [
                (
                    a.id,
                    a.kind.value,
                    a.currency,
                    a.participant,
                    int(a.debits_must_not_exceed_credits),
                )
                for a in accounts
            ],
        )

    async def _expire_due(self, now: int) -> list[str]:
        """Expire the holds whose deadline fell in (previous sweep, ``now``], in deadline
        order; a hold resolved meanwhile is left alone."""
        due = [
            str(row[0])
            for row in await self._all(
                "SELECT h.id FROM transfers h WHERE h.expires_us > ? AND h.expires_us <= ? "  # noqa: S608
                f"AND {UNRESOLVED} "
                "ORDER BY h.expires_us, h.seq",
                (self._swept_us, now),
            )
        ]
        if due:
            await self._db.executemany(EXPIRE, [(now, hold_id) for hold_id in due])
        self._swept_us = max(self._swept_us, now)
        return due

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
            return [await self._insert(t, now, remember_failure=True) for t in transfers]
        await self._db.execute("RELEASE batch")
        return [Outcome.OK] * len(transfers)

    async def _insert(
        self, transfer: Transfer, now: int, *, remember_failure: bool = False
    ) -> Outcome:
        try:
            await self._db.execute(*statement_for(transfer, now))
        except sqlite3.IntegrityError as exc:
            outcome = await self._refusal(transfer, str(exc))
        else:
            return Outcome.OK
        if remember_failure and outcome not in (
            Outcome.EXISTS,
            Outcome.EXISTS_WITH_DIFFERENT_FIELDS,
        ):
            await self._db.execute(
                "INSERT OR IGNORE INTO failed_transfers VALUES (?, ?, ?, ?)",
                (transfer.id, transfer.digest, outcome.value, now),
            )
        return outcome

    async def _refusal(self, transfer: Transfer, message: str) -> Outcome:
        """The outcome an IntegrityError from the transfer rules stands for."""
        if message == "exists":
            row = await self._one("SELECT digest FROM transfers WHERE id = ?", (transfer.id,))
            same = row is not None and row[0] == transfer.digest
            return Outcome.EXISTS if same else Outcome.EXISTS_WITH_DIFFERENT_FIELDS
        if message == "id_already_failed":
            row = await self._one(
                "SELECT digest, outcome FROM failed_transfers WHERE id = ?", (transfer.id,)
            )
            if row is None or row[0] != transfer.digest:
                return Outcome.EXISTS_WITH_DIFFERENT_FIELDS
            return Outcome(row[1])
        if message.startswith("CHECK constraint failed") and "credits" in message:
            return Outcome.EXCEEDS_CREDITS
        try:
            return Outcome(message)
        except ValueError:
            raise RuntimeError(f"transfer {transfer.id}: ledger error {message}") from None
