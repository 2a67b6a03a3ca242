"""The ledger backends the ledger suite runs on: SQLite (a file in the test's directory) and
PostgreSQL (a schema of its own in the database at ``TPESIM_TEST_PG``, dropped afterwards).

Without a reachable PostgreSQL the PostgreSQL cases are skipped, except under CI (``CI`` set),
where they fail: .ci/run starts PostgreSQL when none is running.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Generator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from cards.catalog import CardSet
from switch.ledger import Ledger, LedgerReport, check_ledger
from switch.ledger.postgres.check import check_pg_ledger
from switch.ledger.postgres.store import PgLedger
from wire.clock import Clock

__all__ = [
    "BACKENDS",
    "LATE_US",
    "PG_DSN",
    "AnyLedger",
    "LedgerBackend",
    "insert_statement",
    "make_backend",
    "pg_available",
    "sqlite_ledger",
]

PG_DSN = os.environ.get("TPESIM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")
LATE_US = 5_000_000_000_000_000
"""A switch-clock time (µs) after anything a test ledger holds, for rows a test writes raw."""


def insert_statement(table: str, row: dict[str, str]) -> str:
    """``INSERT INTO table (columns) VALUES (values)`` of ``row``: column -> SQL literal, the
    same text on SQLite and PostgreSQL (for rows written behind the ledger's back)."""
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(row.values())})"


AnyLedger = Ledger | PgLedger
"""Either ledger: the suite calls the same methods on both."""


def sqlite_ledger(ledger: AnyLedger) -> Ledger:
    """``ledger``, which a SQLite-only test knows to be on SQLite."""
    assert isinstance(ledger, Ledger), ledger
    return ledger


class LedgerBackend:
    """One place a test's ledger lives, opened as often as the test likes."""

    name: str
    integrity_error: type[Exception]
    """What the database raises when a rule or a trigger refuses a raw statement."""
    location: str
    """Where the ledger is, as ``tpesim switch --db`` takes it."""

    def open(
        self, cards: CardSet | None = None, clock: Clock | None = None
    ) -> AbstractAsyncContextManager[AnyLedger]:
        """The ledger, opened (created with ``cards``' opening balances the first time)."""
        return self._open(cards, clock)

    def _open(
        self, cards: CardSet | None, clock: Clock | None
    ) -> AbstractAsyncContextManager[AnyLedger]:
        raise NotImplementedError

    async def check(self) -> LedgerReport:
        raise NotImplementedError

    async def raw(self, statements: Iterable[str]) -> None:
        """Run ``statements`` behind the ledger's back, in one transaction."""
        raise NotImplementedError


class SqliteBackend(LedgerBackend):
    name = "sqlite"
    integrity_error = sqlite3.IntegrityError

    def __init__(self, directory: Path) -> None:
        self.path = directory / "ledger.db"
        self.location = str(self.path)

    @asynccontextmanager
    async def _open(self, cards: CardSet | None, clock: Clock | None) -> AsyncIterator[AnyLedger]:
        async with await Ledger.open(self.path, cards, clock) as ledger:
            yield ledger

    async def check(self) -> LedgerReport:
        return check_ledger(self.path)

    async def raw(self, statements: Iterable[str]) -> None:
        db = sqlite3.connect(self.path)
        try:
            for statement in statements:
                db.execute(statement)
            db.commit()
        finally:
            db.close()


class PgBackend(LedgerBackend):
    name = "postgresql"
    integrity_error = asyncpg.IntegrityConstraintViolationError

    def __init__(self) -> None:
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        self.location = f"{PG_DSN}?schema={self.schema}"

    @asynccontextmanager
    async def _open(self, cards: CardSet | None, clock: Clock | None) -> AsyncIterator[AnyLedger]:
        async with await PgLedger.open(PG_DSN, cards, clock, schema=self.schema) as ledger:
            yield ledger

    async def check(self) -> LedgerReport:
        return await check_pg_ledger(PG_DSN, self.schema)

    async def raw(self, statements: Iterable[str]) -> None:
        conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": self.schema})
        try:
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(statement)
        finally:
            await conn.close()

    async def drop(self) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            await conn.close()


@functools.cache
def pg_available() -> bool:
    """Whether the test PostgreSQL answers (asked once per session)."""

    async def ping() -> bool:
        try:
            conn = await asyncpg.connect(PG_DSN, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return asyncio.run(ping())


def require_pg() -> None:
    """Skip without PostgreSQL; under CI, fail instead (CI must run these tests)."""
    if pg_available():
        return
    message = f"no PostgreSQL at {PG_DSN} (TPESIM_TEST_PG)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def make_backend(name: str, directory: Path) -> Generator[LedgerBackend]:
    """The ledger backend ``name`` for one test (a generator: the PostgreSQL schema is dropped
    when it is closed)."""
    if name == "sqlite":
        yield SqliteBackend(directory)
        return
    require_pg()
    pg = PgBackend()
    try:
        yield pg
    finally:
        asyncio.run(pg.drop())
