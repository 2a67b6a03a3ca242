"""ANSI X9.24-1:2009 TDES DUKPT: initial key, transaction keys, working-key variants, KSNs.

KSN: 10 bytes = 59-bit initial key serial number ‖ 21-bit transaction counter. A terminal holds
the initial key (IPEK) for its KSN; the host derives everything from the BDK and the KSN.
"""

from __future__ import annotations

from cards.crypto.primitives import des_encrypt, tdes_encrypt, xor

__all__ = [
    "COUNTER_BITS",
    "MAX_ONE_BITS",
    "DukptExhaustedError",
    "data_key",
    "initial_key",
    "ksn_counter",
    "mac_request_key",
    "mac_response_key",
    "next_ksn",
    "pin_key",
    "transaction_key",
]

COUNTER_BITS = 21
COUNTER_MASK = (1 << COUNTER_BITS) - 1
MAX_ONE_BITS = 10
"""A valid transaction counter has at most 10 one bits (1 048 575 usable keys)."""
_KEY_MASK = bytes.fromhex("C0C0C0C000000000C0C0C0C000000000")
_PIN_VARIANT = bytes.fromhex("00000000000000FF00000000000000FF")
_MAC_REQUEST_VARIANT = bytes.fromhex("000000000000FF00000000000000FF00")
_MAC_RESPONSE_VARIANT = bytes.fromhex("00000000FF00000000000000FF000000")
_DATA_VARIANT = bytes.fromhex("0000000000FF00000000000000FF0000")


class DukptExhaustedError(RuntimeError):
    """The terminal has used its last transaction counter and must be re-keyed."""


def _check_ksn(ksn: bytes) -> int:
    if len(ksn) != 10:
        raise ValueError("a TDES DUKPT KSN is 10 bytes")
    return int.from_bytes(ksn, "big")


def ksn_counter(ksn: bytes) -> int:
    """The 21-bit transaction counter of ``ksn``."""
    return _check_ksn(ksn) & COUNTER_MASK


def initial_key(bdk: bytes, ksn: bytes) -> bytes:
    """IPEK (16 bytes) for the initial key serial number in ``ksn`` (its counter is ignored)."""
    if len(bdk) != 16:
        raise ValueError("a TDES BDK is 16 bytes")
    base = (_check_ksn(ksn) & ~COUNTER_MASK).to_bytes(10, "big")[:8]
    return tdes_encrypt(bdk, base) + tdes_encrypt(xor(bdk, _KEY_MASK), base)


def _non_reversible(key: bytes, data: bytes) -> bytes:
    """X9.24-1 non-reversible key generation: one step of the future-key tree."""
    left, right = key[:8], key[8:]
    new_right = xor(des_encrypt(left, xor(data, right)), right)
    masked = xor(key, _KEY_MASK)
    left, right = masked[:8], masked[8:]
    new_left = xor(des_encrypt(left, xor(data, right)), right)
    return new_left + new_right


def transaction_key(ipek: bytes, ksn: bytes) -> bytes:
    """The transaction (future) key for ``ksn``, walking the counter's one bits from the top."""
    value = _check_ksn(ksn)
    counter = value & COUNTER_MASK
    if counter == 0 or counter.bit_count() > MAX_ONE_BITS:
        raise ValueError("a transaction KSN counter is 1 .. with at most 10 one bits")
    register = value & ((1 << 64) - 1) & ~COUNTER_MASK
    key = ipek
    for shift in range(COUNTER_BITS - 1, -1, -1):
        bit = 1 << shift
        if counter & bit:
            register |= bit
            key = _non_reversible(key, register.to_bytes(8, "big"))
    return key


def pin_key(txn_key: bytes) -> bytes:
    """PIN encryption variant of a transaction key."""
    return xor(txn_key, _PIN_VARIANT)


def mac_request_key(txn_key: bytes) -> bytes:
    """MAC variant for requests (terminal → host)."""
    return xor(txn_key, _MAC_REQUEST_VARIANT)


def mac_response_key(txn_key: bytes) -> bytes:
    """MAC variant for responses (host → terminal)."""
    return xor(txn_key, _MAC_RESPONSE_VARIANT)


def data_key(txn_key: bytes) -> bytes:
    """Data encryption key: the data variant encrypted under itself (both halves)."""
    variant = xor(txn_key, _DATA_VARIANT)
    return tdes_encrypt(variant, variant[:8]) + tdes_encrypt(variant, variant[8:])


def next_ksn(ksn: bytes) -> bytes:
    """The KSN after ``ksn``: counter + 1, skipping counters with more than 10 one bits.

    Raises DukptExhaustedError past the last usable counter.
    """
    value = _check_ksn(ksn)
    counter = value & COUNTER_MASK
    if counter.bit_count() < MAX_ONE_BITS:
        counter += 1
    else:
        counter += counter & -counter
    if counter > COUNTER_MASK:
        raise DukptExhaustedError("TDES DUKPT counter exhausted: the terminal must be re-keyed")
    return ((value & ~COUNTER_MASK) | counter).to_bytes(10, "big")
