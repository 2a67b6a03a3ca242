"""The ledger invariant checker (switch.ledger.checker.check) on a PostgreSQL ledger: the same
checks, the same SQL, through a blocking face on an asyncpg connection that runs in a thread
and event loop of its own (the checks are synchronous)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from switch.ledger.checker.check import LedgerReport, check_connection
from switch.ledger.errors import LedgerUnavailableError
from switch.ledger.postgres.steps import pg_sql, plain_row

__all__ = ["check_pg_ledger"]


class _Fetched:
    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self._rows = [plain_row(row) for row in rows]

    def fetchall(self) -> Sequence[Sequence[Any]]:
        return self._rows

    def fetchone(self) -> Sequence[Any] | None:
        return self._rows[0] if self._rows else None


class _BlockingPg:
    """sqlite3's ``execute`` over asyncpg, for a thread whose loop is not running."""

    dialect = "postgresql"

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection) -> None:
        self._loop = loop
        self._conn = conn

    def execute(self, sql: str, /) -> _Fetched:
        try:
            return _Fetched(self._loop.run_until_complete(self._conn.fetch(pg_sql(sql))))
        except asyncpg.PostgresError as exc:
            raise RuntimeError(f"{exc}: {sql}") from exc


def _check(dsn: str, schema: str) -> LedgerReport:
    loop = asyncio.new_event_loop()
    try:
        try:
            conn = loop.run_until_complete(
                asyncpg.connect(dsn, server_settings={"search_path": schema})
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise LedgerUnavailableError(f"cannot connect to {dsn}: {exc}") from None
        try:

            async def read_only() -> None:
                await conn.execute("SET default_transaction_read_only = on")

            loop.run_until_complete(read_only())
            return check_connection(_BlockingPg(loop, conn))
        finally:
            loop.run_until_complete(conn.close())
    finally:
        loop.close()


async def check_pg_ledger(dsn: str, schema: str = "tpesim") -> LedgerReport:
    """Run every invariant on the PostgreSQL ledger in ``schema`` at ``dsn`` (read only)."""
    return await asyncio.to_thread(_check, dsn, schema)
