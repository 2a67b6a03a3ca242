"""Group commit over one SQLite connection: many business events, one COMMIT (one fsync).

A writer's event runs in its own SAVEPOINT of the group's open transaction, inline on the event
loop's thread: the transaction already holds the write lock, so its statements never wait for
one, and a hop to aiosqlite's thread costs more CPU (queue, wake-ups, the GIL handed over) than
the event's SQL. What can wait or take long stays on that thread: BEGIN IMMEDIATE (another
process may hold the lock) and the COMMIT with its fsync. The connection is opened with
``check_same_thread=False`` for it; SQLite serializes calls on one connection (threadsafety 3),
and the lock below keeps writers to one at a time. A refused event rolls back to its savepoint
alone and raises at once. The
writer is answered only after the COMMIT that makes its event durable, so nothing is reported
stored before it is. Events that arrive while a COMMIT is under way form the next group: under
load a group holds every event that queued during the previous fsync, and alone an event is
committed at once (no timer, no added latency).

The group's life (the committer, the counts, a failed COMMIT failing every event of the group
and undoing its in-memory effects) is :class:`CommitGroups`, which the PostgreSQL ledger's
group commit (switch.ledger.postgres.group) shares; each says only how its transaction commits.

Reads on the same connection see the open group's events before they commit. The switch reads
only what belongs to the card and terminal it holds the locks of (switch.ordering), and those
events are committed before the locks are released.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from switch.ledger.errors import LedgerUnavailableError

__all__ = ["CommitGroups", "Group", "GroupCommit", "run_on_thread"]

T = TypeVar("T")

Opening = Callable[[sqlite3.Connection], Callable[[], None]]
"""Run first in each group's transaction; returns what undoes its in-memory effects should
the group fail to commit."""


_Execute = Callable[..., Awaitable[Any]]
"""aiosqlite's untyped ``Connection._execute``, typed once (not a new alias on every hop)."""


async def run_on_thread(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` on ``db``'s own thread with its sqlite3 connection: one hop, however many
    statements (aiosqlite runs each of its calls this way; it has no public name for it)."""
    conn = db._conn  # the sqlite3 connection aiosqlite drives
    done: T = await cast(_Execute, db._execute)(work, conn)
    return done


class Group:
    """One open transaction and the writers waiting for its COMMIT."""

    __slots__ = ("committed", "events", "undo")

    def __init__(self, committed: asyncio.Future[None], undo: Callable[[], None]) -> None:
        self.committed = committed
        self.undo = undo
        self.events = 0


class CommitGroups:
    """What group commit is on either ledger: the open group, its committer (queued on the
    lock behind the writers already waiting, who join the group) and the counts. A subclass
    says how a group's transaction commits (:meth:`_finish`) and is given up
    (:meth:`_abandon`); ``label`` names the ledger in errors."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._lock = asyncio.Lock()
        """The connection, one writer at a time."""
        self._group: Group | None = None
        self._committers: set[asyncio.Task[None]] = set()
        self.groups = 0
        """Groups committed so far."""
        self.events = 0
        """Events committed so far (events / groups: the mean group size)."""

    async def _finish(self) -> None:
        """COMMIT the open group's transaction (with the lock held)."""
        raise NotImplementedError

    async def _abandon(self) -> None:
        """Leave no transaction open after a failed COMMIT (with the lock held)."""
        raise NotImplementedError

    def _started(self, undo: Callable[[], None]) -> Group:
        """The group whose transaction has just begun, with its committer queued."""
        loop = asyncio.get_running_loop()
        group = self._group = Group(loop.create_future(), undo)
        committer = loop.create_task(self._commit_when_free(group), name="ledger-commit")
        self._committers.add(committer)
        committer.add_done_callback(self._committers.discard)
        return group

    async def _commit_open(self) -> None:
        """With the lock held: commit the open group, if any."""
        if self._group is not None:
            await self._commit(self._group)

    async def _commit_when_free(self, group: Group) -> None:
        try:
            async with self._lock:
                if self._group is group:
                    await self._commit(group)
        finally:
            if not group.committed.done():  # cancelled (the loop is closing): say so
                group.committed.set_exception(LedgerUnavailableError("the ledger was closed"))
                group.committed.exception()

    async def _commit(self, group: Group) -> None:
        self._group = None
        try:
            await self._finish()
        except Exception as error:  # the database's error, or the connection is gone
            group.undo()
            await self._abandon()
            group.committed.set_exception(LedgerUnavailableError(f"{self._label}: {error}"))
            group.committed.exception()  # retrieved: a group nobody awaits any more is no error
            return
        self.groups += 1
        self.events += group.events
        group.committed.set_result(None)


class GroupCommit(CommitGroups):
    """The single writer of one SQLite ledger connection: :meth:`grouped` events,
    :meth:`transaction` transactions of their own (settlement, bulk loads), in the order they
    ask."""

    def __init__(self, db: aiosqlite.Connection, path: Path, opening: Opening) -> None:
        super().__init__(str(path))
        self._db = db
        self._path = path
        self._opening = opening

    async def grouped(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in its own savepoint of the open group (opening one if none is) and
        return its result once the group has committed. ``work`` raising rolls back its own
        statements only, and the exception comes back at once. LedgerUnavailableError: the
        group could not begin or commit; nothing of the event was stored."""
        async with self._lock:
            group = self._group or await self._open()
            result = _in_savepoint(self._db._conn, work)  # inline: see the module doc
            group.events += 1
        await asyncio.shield(group.committed)
        return result

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A transaction of the caller's own on the connection (a bulk load, a settlement),
        committed on exit, rolled back on an exception; the open group commits first."""
        async with self._lock:
            await self._commit_open()
            await self._begin()
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def flush(self) -> None:
        """Commit the open group, if any (before closing the connection)."""
        async with self._lock:
            await self._commit_open()

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE: take the write lock now (waiting up to the busy timeout)."""
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise LedgerUnavailableError(f"{self._path}: {error}") from None

    async def _open(self) -> Group:
        try:
            undo = await run_on_thread(self._db, self._begin_group)
        except sqlite3.OperationalError as error:
            raise LedgerUnavailableError(f"{self._path}: {error}") from None
        return self._started(undo)

    def _begin_group(self, conn: sqlite3.Connection) -> Callable[[], None]:
        """On the database thread: BEGIN IMMEDIATE and the opening step, or nothing at all. A
        transaction already open there was begun for a group whose opener was cancelled while
        waiting for this thread: it becomes this group's."""
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        try:
            return self._opening(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def _finish(self) -> None:
        await self._db.execute("COMMIT")

    async def _abandon(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # no transaction may be left
            await self._db.execute("ROLLBACK")


def _in_savepoint(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("SAVEPOINT event")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK TO event")
        conn.execute("RELEASE event")
        raise
    conn.execute("RELEASE event")
    return result
