"""Where a ledger lives: a SQLite file (a path) or a PostgreSQL database (a URL), opened and
checked the same way by the switch, the CLI and the tests.

A PostgreSQL location is ``postgresql://user[:password]@host[:port]/database``, with an optional
``?schema=NAME`` (default ``tpesim``): the ledger's tables live in that schema.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg

from cards.catalog import CardSet
from switch.ledger.checker.check import LedgerReport, check_ledger
from switch.ledger.errors import LedgerOpenError, LedgerUnavailableError
from switch.ledger.postgres.check import check_pg_ledger
from switch.ledger.postgres.store import PgLedger
from switch.ledger.sql import SCHEMA_VERSION
from switch.ledger.sqlite.store import Ledger
from wire.clock import Clock

__all__ = [
    "AnyLedger",
    "LedgerLocation",
    "check_location",
    "is_new_ledger",
    "ledger_location",
    "open_ledger",
    "postgres_location",
    "remove_ledger_files",
    "require_existing_ledger",
    "require_ledger",
    "shown",
]

AnyLedger = Ledger | PgLedger
"""Either ledger: the switch calls the same methods on both."""

LedgerLocation = Path | str
"""A SQLite file, or a PostgreSQL URL (a str starting ``postgresql://``)."""


def postgres_location(location: LedgerLocation) -> tuple[str, str] | None:
    """(DSN, schema) when ``location`` names a PostgreSQL ledger; None for a SQLite file."""
    if not isinstance(location, str) or not location.startswith(("postgresql://", "postgres://")):
        return None
    parts = urlsplit(location)
    schema = parse_qs(parts.query).get("schema", ["tpesim"])[-1]
    return urlunsplit(parts._replace(query="")), schema


async def open_ledger(
    location: LedgerLocation, cards: CardSet | None = None, clock: Clock | None = None
) -> AnyLedger:
    """Open the ledger at ``location`` (created if needed, opening balances posted once);
    :class:`LedgerOpenError` saying why when it cannot be, leaving no file it created."""
    postgres = postgres_location(location)
    fresh = is_new_ledger(location)
    if postgres is None and Path(location).is_dir():
        raise LedgerOpenError(f"cannot open the ledger {location}: it is a directory")
    try:
        if postgres is None:
            return await Ledger.open(Path(location), cards, clock)
        dsn, schema = postgres
        return await PgLedger.open(dsn, cards, clock, schema=schema)
    except (sqlite3.Error, OSError, RuntimeError, ValueError) as error:
        if fresh:
            remove_ledger_files(location)
        why = " ".join(str(error).split()) or type(error).__name__
        raise LedgerOpenError(f"cannot open the ledger {shown(location)}: {why}") from None


def is_new_ledger(location: LedgerLocation) -> bool:
    """True when ``location`` is a SQLite file that does not exist yet (opening creates it)."""
    return postgres_location(location) is None and not Path(location).exists()


def remove_ledger_files(location: LedgerLocation) -> None:
    """Delete a SQLite ledger and its WAL and shared-memory files (only ever for one this
    process created and never used: a failed start leaves nothing behind)."""
    if postgres_location(location) is not None:
        return
    path = Path(location)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)


def require_ledger(location: LedgerLocation) -> None:
    """FileNotFoundError, saying why, unless a SQLite ``location`` is an existing tpesim
    ledger: missing, a directory, empty, not SQLite, or SQLite without the ledger's tables.
    (A PostgreSQL location is checked when it is opened.)"""
    if postgres_location(location) is not None:
        return
    path = Path(location)
    if not path.is_file():
        raise FileNotFoundError(f"no ledger database at {path}")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'transfers'"
            ).fetchone()
            (version,) = db.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as error:
        raise FileNotFoundError(f"{path} is not a tpesim ledger ({error})") from None
    if found is None:
        raise FileNotFoundError(f"{path} is not a tpesim ledger (it has no transfers)")
    if version != SCHEMA_VERSION:
        raise FileNotFoundError(
            f"{path} is a ledger of schema version {version}, this tpesim needs "
            f"{SCHEMA_VERSION}: start with a new ledger file"
        )


async def require_existing_ledger(location: LedgerLocation) -> None:
    """:func:`require_ledger`, and for PostgreSQL: FileNotFoundError unless the schema holds a
    tpesim ledger (a command that reads or settles a ledger never creates one);
    LedgerUnavailableError when the database cannot be reached."""
    require_ledger(location)
    postgres = postgres_location(location)
    if postgres is None:
        return
    dsn, schema = postgres
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise LedgerUnavailableError(f"cannot connect to {shown(location)}: {exc}") from None
    try:
        found = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.ledger_meta")
    finally:
        await conn.close()
    if found is None:
        raise FileNotFoundError(f"no tpesim ledger in schema {schema} of {shown(location)}")


async def check_location(location: LedgerLocation) -> LedgerReport:
    """Every invariant of the ledger at ``location`` (read only); FileNotFoundError when there
    is no ledger there (:func:`require_existing_ledger`)."""
    await require_existing_ledger(location)
    postgres = postgres_location(location)
    if postgres is None:
        return check_ledger(Path(location))
    return await check_pg_ledger(*postgres)


def shown(location: LedgerLocation) -> str:
    """``location`` for a log line: a PostgreSQL URL without its password."""
    if postgres_location(location) is None:
        return str(location)
    parts = urlsplit(str(location))
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def ledger_location(text: str) -> LedgerLocation:
    """A command-line ``--db`` value: a PostgreSQL URL as it is, anything else a file path."""
    return text if postgres_location(text) is not None else Path(text)
