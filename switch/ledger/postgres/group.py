"""Group commit on one PostgreSQL connection: many business events, one COMMIT.

As on SQLite (switch.ledger.sqlite.group): a writer's event runs in its own SAVEPOINT of the group's
open transaction; a refused event rolls back to its savepoint alone and raises at once; the
writer is answered only after the COMMIT that makes its event durable. Events that arrive while
a COMMIT is under way form the next group, so alone an event is committed at once.

Timestamps stay in commit order across processes: a group's first statement moves and locks the
ledger's clock row (``ledger_clock``), which stays locked until its COMMIT, and just before the
COMMIT the row takes the last time the group gave. The next group, in whatever process, starts
after it.

A cancelled caller stops waiting, but its event runs to its end on the connection (as an SQLite
event does on its thread), so the group's transaction stays whole.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from asyncpg.transaction import Transaction

from switch.ledger.errors import LedgerUnavailableError
from switch.ledger.postgres import steps
from switch.ledger.sqlite.group import CommitGroups, Group
from switch.ledger.stamps import Stamps

__all__ = ["UNAVAILABLE", "Opening", "PgGroupCommit"]

T = TypeVar("T")

UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)
"""The database is gone or unreachable: the event may be tried again."""

Opening = Callable[[asyncpg.Connection, int, bool], Awaitable[Callable[[], None]]]
"""A group's first step after the clock tick, ``(connection, now_us, sweep)``; it returns what
undoes its in-memory effects should the group not commit."""

Work = Callable[[asyncpg.Connection, int], Awaitable[T]]
"""An event: ``(connection, now_us)`` to its result."""


class PgGroupCommit(CommitGroups):
    """The single writer of one PostgreSQL ledger connection: :meth:`grouped` events, in the
    order they ask (asyncpg allows one operation at a time on a connection); ``label`` names
    the ledger in errors."""

    def __init__(
        self, conn: asyncpg.Connection, stamps: Stamps, opening: Opening, label: str
    ) -> None:
        super().__init__(label)
        self._conn = conn
        self._stamps = stamps
        self._opening = opening
        self._transaction: Transaction | None = None
        """The open group's transaction."""

    async def grouped(self, work: Work[T], *, sweep: bool = True) -> T:
        """``work`` in its own savepoint of the open group (opening one, whose opening step is
        told ``sweep``, if none is); its result once the group has committed. ``work`` raising
        rolls back its own statements only and the exception comes back at once.
        LedgerUnavailableError: the group could not begin or commit; nothing of the event
        stays."""
        running = asyncio.ensure_future(self._grouped(work, sweep))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            running.add_done_callback(_retrieved)
            raise

    async def close(self) -> None:
        """Commit the open group, if any, and close the connection."""
        async with self._lock:
            await self._commit_open()
            await self._conn.close()

    async def _grouped(self, work: Work[T], sweep: bool) -> T:
        async with self._lock:
            group = self._group or await self._open(sweep)
            try:
                try:
                    async with self._conn.transaction():  # a savepoint of the group's transaction
                        result = await work(self._conn, self._stamps.tick())
                except steps.RefusedTransfer as refused:  # rolled back: now read why
                    await refused.raise_why(self._conn)
            except UNAVAILABLE as exc:
                raise LedgerUnavailableError(f"{self._label}: {exc}") from None
            group.events += 1
        await asyncio.shield(group.committed)
        return result

    async def _open(self, sweep: bool) -> Group:
        """With the lock held: BEGIN, the clock row, the opening step; a committer queues on the
        lock behind the writers already waiting, who join the group."""
        transaction = self._conn.transaction()
        started = False
        try:
            await transaction.start()
            started = True
            now = await self._conn.fetchval(steps.TICK, self._stamps.tick())
            self._stamps.tick(now)
            undo = await self._opening(self._conn, now, sweep)
        except BaseException as exc:
            if started and not self._conn.is_closed():
                with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                    await transaction.rollback()
            if isinstance(exc, UNAVAILABLE):
                raise LedgerUnavailableError(f"{self._label}: {exc}") from None
            raise
        self._transaction = transaction
        return self._started(undo)

    async def _finish(self) -> None:
        """Hand the clock row the group's last time, then COMMIT."""
        assert self._transaction is not None
        await self._conn.execute(steps.TICK, self._stamps.last_us)
        await self._transaction.commit()

    async def _abandon(self) -> None:
        if self._transaction is not None and not self._conn.is_closed():
            with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                await self._transaction.rollback()


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of an event whose caller was cancelled as seen."""
    if not task.cancelled():
        task.exception()
