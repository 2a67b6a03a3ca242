"""One switch per ledger: a switch claims its ledger before it serves from it.

A switch that serves alone takes the claim exclusively; ``--shared`` workers take it shared,
so any number of them work together but never beside a switch that believes it is alone. A
SQLite ledger is claimed with ``flock`` on ``{ledger}.lock`` (which also says who holds it, and
is gone once nobody does); a
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
    block runs; :class:`LedgerInUseError` naming the holder when another switch has it. The
    last holder to leave removes the lock file."""
    path = lock_file_of(ledger)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = _locked(path, shared=shared, ledger=ledger)
    try:
        if not shared or not _read_note(descriptor):
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(note).encode(), 0)
        yield
    finally:
        _release(path, descriptor)


def _locked(path: Path, *, shared: bool, ledger: Path) -> int:
    """An open descriptor of ``path`` holding its flock. A lock taken on a file its last
    holder removed in the meantime holds nothing: then again, on the file now there."""
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, mode)
        except BlockingIOError:
            holder = describe_holder(_read_note(descriptor))
            os.close(descriptor)
            raise LedgerInUseError(
                f"the ledger {ledger} is in use by {holder}: stop it first (a ledger is "
                "shared only by --shared workers, never with a switch serving alone)"
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


def _release(path: Path, descriptor: int) -> None:
    """Leave the claim; the last holder (the only one that can take it exclusively) removes
    the file while it still holds it."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)
    except BlockingIOError:
        pass  # another --shared worker still holds it
    finally:
        os.close(descriptor)


def _read_note(descriptor: int) -> dict[str, object] | None:
    try:
        raw = os.pread(descriptor, 4096, 0)
        note = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None
