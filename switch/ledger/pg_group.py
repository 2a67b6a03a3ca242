"""Group commit on one PostgreSQL connection: many business events, one COMMIT.

As on SQLite (switch.ledger.group): a writer's event runs in its own SAVEPOINT of the group's
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

from switch.ledger import pg_steps as steps
from switch.ledger.errors import LedgerUnavailableError
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


class _Group:
    """One open transaction and the writers waiting for its COMMIT."""

    __slots__ = ("committed", "events", "transaction", "undo")

    def __init__(
        self, transaction: Transaction, committed: asyncio.Future[None], undo: Callable[[], None]
    ) -> None:
        self.transaction = transaction
        self.committed = committed
        self.undo = undo
        self.events = 0


class PgGroupCommit:
    """The single writer of one ledger connection: :meth:`grouped` events, in the order they
    ask; ``label`` names the ledger in errors."""

    def __init__(
        self, conn: asyncpg.Connection, stamps: Stamps, opening: Opening, label: str
    ) -> None:
        self._conn = conn
        self._stamps = stamps
        self._opening = opening
        self._label = label
        self._lock = asyncio.Lock()
        """The connection, one operation at a time (asyncpg's rule)."""
        self._group: _Group | None = None
        self._committers: set[asyncio.Task[None]] = set()
        self.groups = 0
        """Groups committed so far."""
        self.events = 0
        """Events committed so far (events / groups: the mean group size)."""

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
            if self._group is not None:
                await self._commit(self._group)
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

    async def _open(self, sweep: bool) -> _Group:
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
        loop = asyncio.get_running_loop()
        group = self._group = _Group(transaction, loop.create_future(), undo)
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
            await self._conn.execute(steps.TICK, self._stamps.last_us)
            await group.transaction.commit()
        except Exception as error:  # the connection is gone, or the COMMIT failed
            group.undo()
            if not self._conn.is_closed():
                with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                    await group.transaction.rollback()
            group.committed.set_exception(LedgerUnavailableError(f"{self._label}: {error}"))
            group.committed.exception()  # retrieved: a group nobody awaits any more is no error
            return
        self.groups += 1
        self.events += group.events
        group.committed.set_result(None)


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of an event whose caller was cancelled as seen."""
    if not task.cancelled():
        task.exception()
