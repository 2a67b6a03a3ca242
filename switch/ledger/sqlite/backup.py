"""A consistent copy of a SQLite ledger, taken while the switch writes to it.

Copying ``ledger.db`` with ``cp`` while the switch runs gives a file without what is still in
its WAL, or a torn one. :func:`backup_ledger` uses SQLite's online backup API
(``sqlite3.Connection.backup``) in one step: the copy is the ledger as of one committed
transaction (every event before it, none after), and the switch goes on committing meanwhile
(in WAL mode a reader never blocks the writer). The copy is a single file, in rollback-journal
mode, written beside its destination and moved there only once complete: an interrupted backup
leaves nothing behind.

A PostgreSQL ledger is backed up with PostgreSQL's own tools: :func:`pg_dump_advice`.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from switch.ledger.where import LedgerLocation, postgres_location, require_ledger, shown

__all__ = ["BackupRefusedError", "LedgerBackup", "backup_ledger", "pg_dump_advice"]


def pg_dump_advice(location: str) -> str:
    """What to run instead for the PostgreSQL ledger at ``location`` (its password left out)."""
    found = postgres_location(location)
    schema = found[1] if found else "tpesim"
    dsn = shown(found[0] if found else location)
    return (f"tpesim ledger backup copies a SQLite ledger; back up this PostgreSQL one with "
            f"pg_dump: pg_dump --schema={schema} --format=custom --file=ledger.dump "
            f"'{dsn}'")  # fmt: skip


class BackupRefusedError(ValueError):
    """The backup cannot be made as asked: a PostgreSQL ledger, or a destination in the way."""


@dataclass(frozen=True, slots=True)
class LedgerBackup:
    """A backup made: where it is, how many transfers it holds, its size in bytes."""

    path: Path
    transfers: int
    size: int


def backup_ledger(source: LedgerLocation, target: Path, *, force: bool = False) -> LedgerBackup:
    """Copy the ledger at ``source`` to the new file ``target`` as of one committed
    transaction. FileNotFoundError when ``source`` is no tpesim ledger
    (:func:`~switch.ledger.where.require_ledger`); BackupRefusedError for a PostgreSQL
    ``source``, or a ``target`` that exists (unless ``force``, and never a directory); OSError
    or sqlite3.Error when the copy cannot be written."""
    if isinstance(source, str) and postgres_location(source) is not None:
        raise BackupRefusedError(pg_dump_advice(source))
    require_ledger(source)
    if target.is_dir():
        raise BackupRefusedError(f"{target} is a directory; give the backup's file name")
    if target.exists() and os.path.samefile(source, target):
        raise BackupRefusedError(f"{target} is the ledger itself")
    if target.exists() and not target.is_file():
        raise BackupRefusedError(f"{target} is not a regular file: the copy goes to a new file")
    if target.exists() and not force:
        raise BackupRefusedError(f"{target} exists; remove it, or add --force to replace it")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        transfers = _copy(Path(source), temporary)
        if force:
            os.replace(temporary, target)
        else:
            os.link(temporary, target)  # FileExistsError if one appeared meanwhile
    except FileExistsError:
        raise BackupRefusedError(
            f"{target} exists; remove it, or add --force to replace it"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return LedgerBackup(target, transfers, target.stat().st_size)


def _copy(source: Path, temporary: Path) -> int:
    """The backup itself, into ``temporary`` (made afresh, fsync'ed); its transfer count."""
    temporary.unlink(missing_ok=True)
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as reader,
        closing(sqlite3.connect(temporary)) as copy,
    ):
        reader.execute("PRAGMA busy_timeout=5000")
        reader.backup(copy)  # pages=-1: all of it in one step, one read transaction
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL
        (count,) = copy.execute("SELECT count(*) FROM transfers").fetchone()
    with open(temporary, "rb") as written:
        os.fsync(written.fileno())
    return int(count)
