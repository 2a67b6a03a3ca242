"""The security module's key store, loaded from ``switch/data/keys.yaml``. Reprs never show keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from wire.sealing import DukptFlavour

__all__ = ["Bdk", "IssuerKeys", "KeyStore", "KeyStoreError", "load_keys"]


class KeyStoreError(ValueError):
    """The key file is inconsistent; the message names the entry (never a key value)."""


@dataclass(frozen=True, slots=True)
class Bdk:
    """A DUKPT base derivation key and the id terminals' KSNs name it by."""

    id: str
    algorithm: Literal["aes128", "tdes"]
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class IssuerKeys:
    """One issuer's keys: EMV AC master key, PIN verification key (+ index), CVV key pair."""

    id: str
    imk_ac: bytes = field(repr=False)
    pvk: bytes = field(repr=False)
    pvki: int
    cvk: bytes = field(repr=False)


@dataclass(frozen=True, eq=False)
class KeyStore:
    """All keys of the simulated HSM."""

    bdks: dict[str, Bdk]
    terminal_bdk: dict[DukptFlavour, str]
    issuers: dict[str, IssuerKeys]

    def issuer(self, issuer_id: str) -> IssuerKeys:
        try:
            return self.issuers[issuer_id]
        except KeyError:
            raise KeyStoreError(f"no keys for issuer {issuer_id!r}") from None


def _hex(entry: str, name: str, value: object, sizes: tuple[int, ...]) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise KeyStoreError(f"{entry}: {name} is not hex") from None
    if len(raw) not in sizes:
        raise KeyStoreError(f"{entry}: {name} must be {' or '.join(map(str, sizes))} bytes")
    return raw


def _build(raw: dict[str, Any], origin: str) -> KeyStore:
    try:
        bdks = {
            str(b["id"]): Bdk(
                str(b["id"]),
                b["algorithm"],
                _hex(f"{origin} bdk {b['id']}", "key", b["key"], (16,)),
            )
            for b in raw["bdks"]
        }
        issuers = {
            str(i["id"]): IssuerKeys(
                id=str(i["id"]),
                imk_ac=_hex(f"{origin} issuer {i['id']}", "imk_ac", i["imk_ac"], (16,)),
                pvk=_hex(f"{origin} issuer {i['id']}", "pvk", i["pvk"], (16,)),
                pvki=int(i["pvki"]),
                cvk=_hex(f"{origin} issuer {i['id']}", "cvk", i["cvk"], (16,)),
            )
            for i in raw["issuers"]
        }
        terminal_bdk = {flavour: str(raw["terminal_bdk"][flavour]) for flavour in ("aes", "tdes")}
    except (KeyError, TypeError) as exc:
        raise KeyStoreError(f"{origin}: missing or malformed entry {exc}") from None
    for flavour, bdk_id in terminal_bdk.items():
        if bdk_id not in bdks:
            raise KeyStoreError(f"{origin}: terminal_bdk {flavour} names unknown BDK {bdk_id}")
    return KeyStore(bdks=bdks, terminal_bdk=terminal_bdk, issuers=issuers)  # type: ignore[arg-type]


@cache
def _default() -> KeyStore:
    text = resources.files("switch.data").joinpath("keys.yaml").read_text("utf-8")
    return _build(yaml.safe_load(text), "switch/data/keys.yaml")


def load_keys(path: Path | None = None) -> KeyStore:
    """The key store in ``path``, or the shipped simulator keys."""
    if path is None:
        return _default()
    return _build(yaml.safe_load(path.read_text("utf-8")), str(path))
