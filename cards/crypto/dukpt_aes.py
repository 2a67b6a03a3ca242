"""ANSI X9.24-3:2017 AES DUKPT: initial key, transaction keys and working keys.

KSN: 12 bytes = 8-byte initial key ID (BDK ID ‖ derivation ID) ‖ 32-bit transaction counter.
Every derivation is one AES-ECB encryption (per 16 bytes of output) of 16 bytes of derivation
data: version, block counter, key usage, algorithm, length in bits, then either the initial key
ID or the derivation ID ‖ counter.

The initial keys and the intermediate derivation keys on the way to a transaction key are kept
(bounded LRU), as a host security module keeps its future-key table: consecutive transactions of
one terminal share all but the last steps of their counter's walk, so a transaction costs about
one derivation plus its working keys, instead of one per one-bit of its counter.
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

from cards.crypto.dukpt_tdes import DukptExhaustedError
from cards.crypto.primitives import aes_encrypt_block

__all__ = [
    "MAX_ONE_BITS",
    "KeyAlgorithm",
    "KeyUsage",
    "derive_key",
    "initial_key",
    "ksn_counter",
    "next_ksn",
    "transaction_key",
    "working_key",
]

MAX_ONE_BITS = 16
"""A valid transaction counter has at most 16 one bits."""


class KeyUsage(IntEnum):
    """X9.24-3 key usage indicators."""

    KEY_ENCRYPTION = 0x0002
    PIN_ENCRYPTION = 0x1000
    MAC_GENERATION = 0x2000
    MAC_VERIFICATION = 0x2001
    MAC_BOTH_WAYS = 0x2002
    DATA_ENCRYPT = 0x3000
    DATA_DECRYPT = 0x3001
    DATA_BOTH_WAYS = 0x3002
    KEY_DERIVATION = 0x8000
    INITIAL_KEY = 0x8001


class KeyAlgorithm(IntEnum):
    """X9.24-3 algorithm indicators, with the key length each implies."""

    TDES_2KEY = 0x0000
    TDES_3KEY = 0x0001
    AES128 = 0x0002
    AES192 = 0x0003
    AES256 = 0x0004

    @property
    def bits(self) -> int:
        return {0: 128, 1: 192, 2: 128, 3: 192, 4: 256}[self.value]


def _algorithm_of(key: bytes) -> KeyAlgorithm:
    try:
        return {16: KeyAlgorithm.AES128, 24: KeyAlgorithm.AES192, 32: KeyAlgorithm.AES256}[len(key)]
    except KeyError:
        raise ValueError("an AES DUKPT key is 16, 24 or 32 bytes") from None


def _check_ksn(ksn: bytes) -> None:
    if len(ksn) != 12:
        raise ValueError("an AES DUKPT KSN is 12 bytes")


def ksn_counter(ksn: bytes) -> int:
    """The 32-bit transaction counter of ``ksn``."""
    _check_ksn(ksn)
    return int.from_bytes(ksn[8:], "big")


def derive_key(
    derivation_key: bytes, usage: KeyUsage, algorithm: KeyAlgorithm, tail: bytes
) -> bytes:
    """One X9.24-3 derivation: ``tail`` is the 8-byte initial key ID or derivation ID ‖ counter."""
    bits = algorithm.bits
    out = b""
    for block in range(1, (bits + 127) // 128 + 1):
        data = (
            bytes((0x01, block))
            + usage.to_bytes(2, "big")
            + algorithm.to_bytes(2, "big")
            + bits.to_bytes(2, "big")
            + tail
        )
        out += aes_encrypt_block(derivation_key, data)
    return out[: bits // 8]


_KEPT_DERIVATIONS = 16_384
"""Initial and intermediate keys kept: a few hundred terminals' walks."""


@lru_cache(maxsize=_KEPT_DERIVATIONS)
def _kept(derivation_key: bytes, usage: KeyUsage, algorithm: KeyAlgorithm, tail: bytes) -> bytes:
    """:func:`derive_key`, remembered (initial keys and the counter walk's steps only)."""
    return derive_key(derivation_key, usage, algorithm, tail)


def initial_key(bdk: bytes, initial_key_id: bytes) -> bytes:
    """The terminal's initial key for the 8-byte initial key ID (BDK ID ‖ derivation ID)."""
    if len(initial_key_id) != 8:
        raise ValueError("an initial key ID is 8 bytes")
    return _kept(bdk, KeyUsage.INITIAL_KEY, _algorithm_of(bdk), initial_key_id)


def transaction_key(ik: bytes, ksn: bytes) -> bytes:
    """The derivation key of transaction ``ksn``, walking its counter's one bits from the top."""
    counter = ksn_counter(ksn)
    if counter == 0 or counter.bit_count() > MAX_ONE_BITS:
        raise ValueError("a transaction KSN counter is 1 .. with at most 16 one bits")
    algorithm = _algorithm_of(ik)
    key, working = ik, 0
    for shift in range(31, -1, -1):
        bit = 1 << shift
        if counter & bit:
            working |= bit
            tail = ksn[4:8] + working.to_bytes(4, "big")
            key = _kept(key, KeyUsage.KEY_DERIVATION, algorithm, tail)
    return key


def working_key(
    txn_key: bytes, ksn: bytes, usage: KeyUsage, algorithm: KeyAlgorithm = KeyAlgorithm.AES128
) -> bytes:
    """A working key (PIN, MAC or data) of type ``algorithm`` for transaction ``ksn``."""
    _check_ksn(ksn)
    return derive_key(txn_key, usage, algorithm, ksn[4:12])


def next_ksn(ksn: bytes) -> bytes:
    """The KSN after ``ksn`` (counter + 1, skipping counters with more than 16 one bits)."""
    counter = ksn_counter(ksn)
    if counter.bit_count() < MAX_ONE_BITS:
        counter += 1
    else:
        counter += counter & -counter
    if counter >= 1 << 32:
        raise DukptExhaustedError("AES DUKPT counter exhausted: the terminal must be re-keyed")
    return ksn[:8] + counter.to_bytes(4, "big")
