"""What simulated devices remember between runs: chip counters (ATC), terminal STANs, the
request each terminal had in flight (so that after a power loss it reverses what it cannot
confirm), and each terminal's last sale (what its cancel key voids).

A real card keeps its ATC and a real TPE its STAN in non-volatile memory; ``tpesim terminal``
keeps them in one small JSON file so that repeated runs neither replay an ATC (05 at the issuer)
nor reuse a (TID, STAN, DE7) key (94 at the switch). A demo keeps them in memory only.

Several processes may share the file. Each terminal is driven by one process at a time: a run
:meth:`DeviceState.claim`\\ s its terminals (an exclusive lock per terminal, refused at once
when another process holds one). The file itself is rewritten under a lock of its own, merging
what is on disk: a process writes only the terminals it claimed or changed, and a chip's ATC
is drawn from the file at each cryptogram (:meth:`DeviceState.next_atc`), so two runs using
one card never give it the same counter.

Card data at rest: the file and its lock files are the owner's alone (mode 0600), and a
request is kept only as far as its reversal needs it, its PAN and expiry sealed under the
terminal storage key in ``devices.json.key`` (tpesim.state_records).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tpesim.state_records import RecordSealError, StorageKey, at_rest, is_reduced, restored

__all__ = ["DeviceState", "StateFileError", "TerminalBusyError", "default_state_file"]

V = TypeVar("V")

log = logging.getLogger("tpesim.state")

_SECTIONS = ("stans", "in_flight", "last_sales")
"""The per-terminal parts of the file (the ``chips`` part is per card)."""


class TerminalBusyError(RuntimeError):
    """Another process is driving the terminal (it holds the terminal's lock)."""


class StateFileError(ValueError):
    """The state file cannot be read, written or trusted (damaged, a directory, no access)."""


def default_state_file() -> Path:
    """``$XDG_STATE_HOME/tpesim/devices.json`` (``~/.local/state/tpesim/devices.json``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tpesim" / "devices.json"


class DeviceState:
    """Chip ATCs by card id and next STANs by TID, loaded from and saved to ``path``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path.resolve() if path is not None else None
        """The file itself (a symbolic link is followed: its target is written)."""
        self.chips: dict[str, int] = {}
        self.stans: dict[str, int] = {}
        self.in_flight: dict[str, str] = {}
        """Each terminal's request in flight, as kept at rest (tpesim.state_records)."""
        self.last_sales: dict[str, str] = {}
        """Each terminal's last approved sale or refund, as kept at rest: what ``--void``
        cancels."""
        self._key: StorageKey | None = None
        """The terminal storage key, once read or made (:meth:`_storage_key`)."""
        self._mine: set[str] = set()
        """Terminals whose state this process writes: the ones it claimed or changed."""
        self._locks: dict[str, int] = {}
        if path is not None:
            self._take(self._read())

    def __repr__(self) -> str:
        return f"<DeviceState {self.path} chips={len(self.chips)} terminals={len(self.stans)}>"

    def __enter__(self) -> DeviceState:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def claim(self, tids: Iterable[str]) -> None:
        """Lock each of ``tids`` for this process until :meth:`release` (or its exit), then
        reload their state; TerminalBusyError, holding none of them, when another process
        drives one."""
        if self.path is None:
            return
        for tid in tids:
            if tid in self._locks:
                continue
            fd = self._open_lock(self._lock_path(tid))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                self.release()
                raise TerminalBusyError(
                    f"terminal {tid} is being driven by another tpesim process (pid {holder}); "
                    "wait for it to end, or use another terminal"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._locks[tid] = fd
        fresh = set(self._locks) - self._mine
        self._take(self._read(), only=fresh)  # their state as the last process left it
        self._mine |= fresh

    def release(self) -> None:
        """Let other processes drive this process's terminals."""
        for fd in self._locks.values():
            os.close(fd)  # closing the descriptor drops its lock
        self._locks.clear()

    def load_in_flight(self, tid: str) -> bytes | None:
        """The request ``tid`` sent and never saw the end of, as far as its reversal needs it
        (None: nothing pending, or a record that no longer opens)."""
        return self._restored(tid, self.in_flight.get(tid), "request in flight")

    def store_in_flight(self, tid: str, request: bytes | None, next_stan: int) -> None:
        """Remember (or, with None, forget) ``tid``'s request in flight, and its next STAN, on
        disk at once: the terminal's non-volatile memory, written before the request leaves (a
        terminal powered up again must not reuse the STAN of the request it lost)."""
        self._mine.add(tid)
        self.stans[tid] = next_stan
        if request is None:
            self.in_flight.pop(tid, None)
        else:
            self.in_flight[tid] = self._at_rest(request.decode())
        self.save()

    def load_last_sale(self, tid: str) -> bytes | None:
        """``tid``'s last approved sale or refund, as far as its void needs it (None: none
        remembered, or a record that no longer opens)."""
        return self._restored(tid, self.last_sales.get(tid), "last sale")

    def keep_last_sale(self, tid: str, request: bytes | None) -> None:
        """Remember (or, with None, forget) ``tid``'s last approved sale or refund; written by
        the next :meth:`save`."""
        self._mine.add(tid)
        if request is None:
            self.last_sales.pop(tid, None)
        else:
            self.last_sales[tid] = self._at_rest(request.decode())

    def next_atc(self, card_id: str, current: int) -> int:
        """The counter card ``card_id``'s next cryptogram uses: one more than the highest of
        ``current`` (the chip's own) and what the file holds, written back at once under the
        file's lock, so concurrent runs sharing the card draw distinct, rising counters."""
        with self._file_locked():
            raw = self._read()
            self._take(raw, only=set())  # the counters on disk, checked
            atc = max(current, self.chips.get(card_id, 0)) + 1
            self.chips[card_id] = atc
            self._write_merged(raw)
        return atc

    @contextlib.asynccontextmanager
    async def card_in_reader(self, card_id: str) -> AsyncIterator[None]:
        """Hold card ``card_id`` for one transaction, as a card sits in one reader at a time:
        another process using the card waits until this transaction has its answer (else its
        cryptogram's counter, drawn later, could reach the issuer first, and this one be
        declined 05 as a replay)."""
        if self.path is None:
            yield
            return
        fd = self._open_lock(self.path.with_name(f"{self.path.name}.card-{card_id}.lock"))
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def save(self) -> None:
        """Write back this process's terminals and counters, keeping what other processes
        wrote meanwhile (no file: nothing to do)."""
        if self.path is None:
            return
        with self._file_locked():
            self._write_merged()

    def _storage_key(self, *, create: bool) -> StorageKey | None:
        """The terminal storage key, ``devices.json.key`` beside the file (made when missing
        and ``create``); None without a file, or without a key when not ``create``."""
        if self._key is not None or self.path is None:
            return self._key
        where = self.path.with_name(f"{self.path.name}.key")
        try:
            self._key = StorageKey.at(where, create=create)
        except OSError as error:
            raise StateFileError(f"storage key {where}: {error.strerror or error}") from None
        except ValueError as error:
            raise StateFileError(f"storage key {where} is damaged: {error}") from None
        return self._key

    def _at_rest(self, text: str) -> str:
        """``text`` (a request's wire form) as the file keeps it; as it is in memory only."""
        if self.path is None or is_reduced(text):
            return text
        return at_rest(text, self._storage_key(create=True))

    def _restored(self, tid: str, text: str | None, what: str) -> bytes | None:
        """The wire form of record ``text``; None (with a warning naming what is lost) when
        its sealed card data does not open."""
        if text is None:
            return None
        try:
            return restored(text, self._storage_key(create=False))
        except RecordSealError as error:
            log.warning("state file %s: %s's %s cannot be read back (%s); it is forgotten: %s",
                        self.path, tid, what, error, text[:200])  # fmt: skip
            return None

    def _lock_path(self, tid: str) -> Path:
        assert self.path is not None
        return self.path.with_name(f"{self.path.name}.{tid}.lock")

    def _open_lock(self, path: Path) -> int:
        """A descriptor of lock file ``path`` (created, with its directory, if needed)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_mode & 0o077:  # made looser by an older tpesim
                os.fchmod(fd, 0o600)
            return fd
        except OSError as error:
            raise StateFileError(f"state file {self.path}: {error.strerror or error}") from None

    @contextlib.contextmanager
    def _file_locked(self) -> Iterator[None]:
        """Hold the state file's own lock (a short, blocking one) while reading and writing it."""
        if self.path is None:
            yield
            return
        fd = self._open_lock(self.path.with_name(f"{self.path.name}.lock"))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            _tighten(self.path)
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise StateFileError(f"state file {self.path}: {error.strerror or error}") from None
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise StateFileError(f"state file {self.path} is not tpesim's JSON: "
                                 f"{str(error)[:80]}") from None  # fmt: skip
        if not isinstance(raw, dict):
            raise StateFileError(f"state file {self.path} is not tpesim's JSON object")
        return raw

    def _take(self, raw: dict[str, Any], only: set[str] | None = None) -> None:
        """Adopt ``raw`` (the file's content): the terminals ``only`` names (all but the ones
        this process changed when None), and the highest counter of every chip."""
        try:
            chips = {str(k): int(v) for k, v in raw.get("chips", {}).items()}
            stans = {str(k): int(v) for k, v in raw.get("stans", {}).items()}
            in_flight = {str(k): str(v) for k, v in raw.get("in_flight", {}).items()}
            last_sales = {str(k): str(v) for k, v in raw.get("last_sales", {}).items()}
        except (AttributeError, TypeError, ValueError, OverflowError) as error:
            raise StateFileError(f"state file {self.path} is damaged: {error}") from None
        if any(not 0 <= atc <= 0xFFFF for atc in chips.values()) or any(
            not 1 <= stan <= 999_999 for stan in stans.values()
        ):
            raise StateFileError(
                f"state file {self.path} is damaged: an ATC outside 0..65535 or a STAN "
                "outside 1..999999"
            )
        for card_id, atc in chips.items():
            self.chips[card_id] = max(atc, self.chips.get(card_id, 0))
        wanted = (set(stans) | set(in_flight) | set(last_sales)) - self._mine
        for tid in wanted if only is None else only:
            _adopt(self.stans, stans, tid)
            _adopt(self.in_flight, in_flight, tid)
            _adopt(self.last_sales, last_sales, tid)

    def _write_merged(self, raw: dict[str, Any] | None = None) -> None:
        """Rewrite the file (atomically) from what is on disk (``raw``, when the caller has
        just read it under the same lock), with this process's terminals and the highest
        counter of each chip; the caller holds the file's lock."""
        assert self.path is not None
        raw = self._read() if raw is None else raw
        chips = {str(k): int(v) for k, v in raw.get("chips", {}).items()}
        for card_id, atc in self.chips.items():
            chips[card_id] = max(atc, chips.get(card_id, 0))
        data: dict[str, Any] = {"chips": chips}
        for name in _SECTIONS:
            ours: dict[str, Any] = getattr(self, name)
            section = {k: v for k, v in raw.get(name, {}).items() if k not in self._mine}
            section.update({k: v for k, v in ours.items() if k in self._mine})
            if name != "stans":  # an older file's full requests: reduced, sealed
                section = {k: self._at_rest(str(v)) for k, v in section.items()}
            data[name] = section
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        text = json.dumps(data, indent=1, sort_keys=True).encode()
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # a temporary left by a killed run may be looser
            with open(fd, "wb") as out:
                out.write(text)
            os.replace(temporary, self.path)
        except OSError as error:
            raise StateFileError(f"state file {self.path}: {error.strerror or error}") from None


def _tighten(path: Path) -> None:
    """Make ``path`` its owner's alone (mode 0600) if it is looser: an older tpesim made it
    0644. Not possible (another owner): a warning, the file is still used."""
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError as error:
            log.warning("state file %s is readable by others and stays so: %s", path, error)


def _adopt(ours: dict[str, V], theirs: dict[str, V], tid: str) -> None:
    """Make ``ours[tid]`` what ``theirs`` has (absent if it has none)."""
    if tid in theirs:
        ours[tid] = theirs[tid]
    else:
        ours.pop(tid, None)
