"""What the ledger checks read through (pure of any backend): a connection's ``execute``, and
the two ways they read its answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Db", "count_of", "rows"]


class _Rows(Protocol):
    def fetchall(self) -> Sequence[Sequence[Any]]: ...

    def fetchone(self) -> Sequence[Any] | None: ...


class Db(Protocol):
    """What the checks need of a ledger connection: sqlite3's ``execute`` (a SQLite ledger, or
    switch.ledger.postgres.check's face on a PostgreSQL one)."""

    def execute(self, sql: str, /) -> _Rows: ...


def rows(db: Db, sql: str) -> list[tuple[object, ...]]:
    """Every row ``sql`` gives, as tuples."""
    return [tuple(row) for row in db.execute(sql).fetchall()]


def count_of(db: Db, sql: str) -> int:
    """The number in the first column of the first row ``sql`` gives (0 for none)."""
    row = db.execute(sql).fetchone()
    return int(row[0] or 0) if row else 0
