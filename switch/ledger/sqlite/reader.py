"""The event loop's own read-only connection to a SQLite ledger, for the switch's hot reads.

A hop to aiosqlite's thread costs tens of microseconds of CPU (a queue, a future, a wake-up of
the loop, the GIL handed back and forth) for a read SQLite answers in a few from its page cache.
The reads a purchase makes first (its stored answer, its terminal's and card's state) are of a
terminal and a card the switch holds (switch.ordering), whose events are committed before it lets
go of them: they read only what is committed, so a second connection in WAL mode, used inline on
the event loop's thread, reads them as well as the writer's, without a hop and without a lock
(a WAL reader takes none SQLite could make it wait for).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from switch.ledger.reads import first_rows

__all__ = ["READER_CACHE_KIB", "LoopReader"]

log = logging.getLogger("switch.ledger")

READER_CACHE_KIB = 64 * 1024
"""Page cache of the reader: the indexes a purchase's reads walk."""


class LoopReader:
    """A read-only connection to the ledger at ``path``, used on the event loop's thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA query_only=ON")
        self._db.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")

    def first_rows(
        self, queries: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[Any, ...] | None] | None:
        """The first row of each of ``queries`` (SQL, parameters), all from one snapshot of
        what is committed (one read transaction); None when SQLite turns the reader away
        (busy: another process recovering the WAL, say) and the caller should read otherwise."""
        try:
            self._db.execute("BEGIN")
            try:
                return first_rows(self._db, queries)
            finally:
                self._db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            log.warning("ledger %s: read on the writer's thread (%s)", self.path, error)
            return None

    def close(self) -> None:
        self._db.close()
