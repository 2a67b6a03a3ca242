"""One switch per ledger: a switch claims its ledger before it serves from it.

A switch that serves alone takes the claim exclusively; ``--shared`` workers take it shared,
so any number of them work together but never beside a switch that believes it is alone. A
SQLite ledger is claimed with ``flock`` on ``{ledger}.lock`` (which also says who holds it); a
PostgreSQL one with a session advisory lock on the ledger's connection. Readers (``tpesim
ledger check``, backups, the dashboard) claim nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LedgerInUseError", "claimed_file", "holder_note", "lock_file_of"]


class LedgerInUseError(RuntimeError):
    """Another switch serves from this ledger; the message names it."""


def lock_file_of(ledger: Path) -> Path:
    """Where the claim of the SQLite ledger ``ledger`` is held: ``ledger.db.lock``."""
    return ledger.with_name(ledger.name + ".lock")


def holder_note(client_id: str, *, shared: bool) -> dict[str, object]:
    """Who claims a ledger, as the claim records it: client id, host, pid, since when."""
    return {
        "client_id": client_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "shared": shared,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe_holder(note: dict[str, object] | None) -> str:
    """A holder note in words (``switch tpesim-switch, pid 4242 on host h since ...``)."""
    if not note:
        return "another switch"
    kind = "shared worker" if note.get("shared") else "switch"
    return (f"{kind} {note.get('client_id')}, pid {note.get('pid')} on {note.get('host')} "
            f"since {note.get('since')}")  # fmt: skip


@contextmanager
def claimed_file(ledger: Path, note: dict[str, object], *, shared: bool) -> Iterator[None]:
    """Hold the claim of the SQLite ledger ``ledger`` (exclusive unless ``shared``) while the
    block runs; :class:`LedgerInUseError` naming the holder when another switch has it."""
    path = lock_file_of(ledger)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LedgerInUseError(
                f"the ledger {ledger} is in use by {describe_holder(_read_note(descriptor))}: "
                "stop it first (several switches share a ledger only as --shared workers)"
            ) from None
        if not shared or not _read_note(descriptor):
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(note).encode(), 0)
        yield
    finally:
        os.close(descriptor)


def _read_note(descriptor: int) -> dict[str, object] | None:
    try:
        raw = os.pread(descriptor, 4096, 0)
        note = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None
