"""What the state file keeps of a terminal's request: only what recovery reads back.

A terminal keeps two requests across runs (tpesim.state): the one it has in flight, which a
power-up reverses, and its last approved sale, which ``--void`` reverses. Either way the
request is only ever read back to build an 0420 reversal advice (terminal.builder's
``_referring``): DE90 names the original by its MTI, STAN (DE11) and DE7, and the advice
repeats DE2, DE3, DE4, DE42 and DE49. The switch matches a reversal to its original by
(DE41, DE90 STAN, DE90 DE7) and checks DE4 (switch.flows.resolutions); it does not compare PANs,
but the 0420 carries DE2 and the switch takes its turn on the card's account by it.

So a record keeps, in clear, the identity and money fields (:data:`CLEAR`) and, sealed with
AES-256-GCM under the terminal's storage key (:class:`StorageKey`), the PAN (DE2) and the
expiry (DE14, which the 0200 model requires to decode the record). The PIN block (DE52), track
2 (DE35), CVV2 (DE48), chip data (DE55), PSN (DE23), KSN and MAC are not kept: no reversal
needs them. The clear fields are the sealed part's associated data: a record edited on disk
no longer opens.

An older file's records hold the whole request in clear; they still load, and are reduced
and sealed when the file is next written (:func:`at_rest`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["CLEAR", "SEALED", "RecordSealError", "StorageKey", "at_rest", "is_reduced", "restored"]

CLEAR = ("mti", "3", "4", "7", "11", "12", "13", "22", "41", "42", "49")
"""Data elements a record keeps in clear: what a reversal names or repeats (MTI, DE3, DE4,
DE7, DE11, DE41, DE42, DE49) and what the 0200 model requires besides (DE12, DE13, DE22)."""

SEALED = ("2", "14")
"""Data elements a record keeps encrypted: the PAN (the 0420 repeats it) and the expiry."""

_SEAL = "sealed"
"""The record's key for its sealed part: base64 of a 12-byte nonce and the AES-GCM output."""

_KEY_BYTES = 32
_NONCE_BYTES = 12


class RecordSealError(ValueError):
    """A sealed record that does not open: another key, a lost key, or an edited record."""


class StorageKey:
    """The terminal storage key: 32 random bytes in a file of their own (mode 0600), made the
    first time a record is sealed, beside the state file. Like a TPE's key in its secure
    element, it keeps the card data of a copied state file (a backup, a bug report) unreadable
    without the key file."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"a storage key is {_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "<StorageKey>"  # never the key

    @classmethod
    def at(cls, path: Path, *, create: bool) -> StorageKey | None:
        """The key in file ``path``; made there (atomically, mode 0600) when it does not exist
        and ``create``, else None. OSError when the file cannot be read or written, ValueError
        when it holds no key."""
        try:
            return cls(path.read_bytes())
        except FileNotFoundError:
            if not create:
                return None
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_bytes(_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # fails if another process made the key first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        return cls(path.read_bytes())

    def seal(self, plain: bytes, associated: bytes) -> str:
        """``plain`` encrypted and authenticated with ``associated``: base64 text."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plain, associated)).decode()

    def open(self, sealed: str, associated: bytes) -> bytes:
        """What :meth:`seal` sealed; RecordSealError when it does not open."""
        try:
            raw = base64.b64decode(sealed, validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated)
        except (InvalidTag, ValueError) as error:
            raise RecordSealError("the sealed card data does not open with this key") from error


def _fields(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object (a request's wire form, or a record); None if it is not."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _associated(clear: dict[str, Any]) -> bytes:
    return json.dumps(clear, sort_keys=True, separators=(",", ":")).encode()


def is_reduced(text: str) -> bool:
    """Whether ``text`` needs no reduction: a record already, or not a JSON object at all
    (not a request: kept as it is)."""
    fields = _fields(text)
    return fields is None or set(fields) <= {*CLEAR, _SEAL}


def at_rest(text: str, key: StorageKey | None) -> str:
    """What the state file keeps of request ``text`` (its JSON wire form): :data:`CLEAR` in
    clear, :data:`SEALED` under ``key`` (needed only when the request has one of them), the
    rest dropped. A record already reduced, or a text that is no JSON object, is kept as is."""
    fields = _fields(text)
    if fields is None or is_reduced(text):
        return text
    clear = {name: value for name, value in fields.items() if name in CLEAR}
    secret = {name: fields[name] for name in SEALED if name in fields}
    record = dict(clear)
    if secret:
        if key is None:
            raise RecordSealError("a request with card data needs the storage key")
        plain = json.dumps(secret, separators=(",", ":")).encode()
        record[_SEAL] = key.seal(plain, _associated(clear))
    return json.dumps(record, separators=(",", ":"))


def restored(text: str, key: StorageKey | None) -> bytes:
    """The request's wire form again (JSON; the dropped fields absent) from a record, or an
    older file's full request as it is; RecordSealError when its sealed part does not open."""
    fields = _fields(text)
    if fields is None or _SEAL not in fields:
        return text.encode()
    clear = {name: value for name, value in fields.items() if name != _SEAL}
    if key is None:
        raise RecordSealError("the storage key is missing")
    secret = _fields(key.open(str(fields[_SEAL]), _associated(clear)).decode())
    if secret is None:
        raise RecordSealError("the sealed card data is not what tpesim seals")
    return json.dumps(clear | secret, separators=(",", ":")).encode()
