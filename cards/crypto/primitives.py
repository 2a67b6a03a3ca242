"""Block-cipher primitives for card security: the only module that touches DES/TDES and AES.

TDES comes from ``cryptography.hazmat.decrepit`` and is always given a 24-byte key: a 16-byte
(two-key) key K1‖K2 becomes K1‖K2‖K1, and a single-DES key K becomes K‖K‖K, so nothing here
emits a deprecation warning. All functions take and return ``bytes``.

The ECB contexts are kept per key (bounded LRU): an ECB context holds no state between whole
blocks, and building one costs more than the block it encrypts, as an HSM keeps its loaded keys.
A one-shot key (a chip transaction's session key, say) is used with ``keep=False``: its context
is built, used and dropped, and does not push out of the LRU the keys that come back (a card's
master key, a terminal's initial key).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

__all__ = [
    "aes_decrypt_block",
    "aes_encrypt_block",
    "des_decrypt",
    "des_encrypt",
    "key_check_value",
    "set_odd_parity",
    "tdes_cbc_encrypt",
    "tdes_decrypt",
    "tdes_encrypt",
    "xor",
]

DES_BLOCK = 8
AES_BLOCK = 16


def xor(left: bytes, right: bytes) -> bytes:
    """Byte-wise XOR of two equal-length strings."""
    if len(left) != len(right):
        raise ValueError(f"xor of {len(left)} and {len(right)} bytes")
    value = int.from_bytes(left, "big") ^ int.from_bytes(right, "big")
    return value.to_bytes(len(left), "big")


def _tdes_key(key: bytes) -> bytes:
    """Expand an 8-, 16- or 24-byte DES/TDES key to the 24 bytes TripleDES is given."""
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise ValueError(f"a DES/TDES key is 8, 16 or 24 bytes, not {len(key)}")


def _blocks(data: bytes, size: int) -> None:
    if not data or len(data) % size:
        raise ValueError(f"data must be a non-empty multiple of {size} bytes, not {len(data)}")


_CONTEXTS = 4096
"""ECB contexts kept, per direction and cipher: a switch's working set of keys (a town's
cards' master keys, its terminals' DUKPT keys, the issuers' keys)."""


def _new_tdes_ecb(key: bytes, encrypt: bool) -> CipherContext:
    """A TDES-ECB context for a 24-byte key (never finalized: reusable)."""
    cipher = Cipher(TripleDES(key), modes.ECB())  # noqa: S305
    return cipher.encryptor() if encrypt else cipher.decryptor()


_tdes_ecb = lru_cache(maxsize=_CONTEXTS)(_new_tdes_ecb)


@lru_cache(maxsize=_CONTEXTS)
def _aes_ecb(key: bytes, encrypt: bool) -> CipherContext:
    """A reusable AES-ECB context (never finalized)."""
    cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305
    return cipher.encryptor() if encrypt else cipher.decryptor()


def tdes_encrypt(key: bytes, data: bytes, *, keep: bool = True) -> bytes:
    """TDES-ECB encryption (EDE) of whole 8-byte blocks; ``keep``: the key comes back, keep
    its context."""
    _blocks(data, DES_BLOCK)
    context = _tdes_ecb if keep else _new_tdes_ecb
    return context(_tdes_key(key), True).update(data)


def tdes_decrypt(key: bytes, data: bytes, *, keep: bool = True) -> bytes:
    """TDES-ECB decryption of whole 8-byte blocks; ``keep`` as for :func:`tdes_encrypt`."""
    _blocks(data, DES_BLOCK)
    context = _tdes_ecb if keep else _new_tdes_ecb
    return context(_tdes_key(key), False).update(data)


def tdes_cbc_encrypt(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    """TDES-CBC encryption of whole 8-byte blocks (used by MAC algorithm 1)."""
    _blocks(data, DES_BLOCK)
    encryptor = Cipher(TripleDES(_tdes_key(key)), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def des_encrypt(key: bytes, data: bytes, *, keep: bool = True) -> bytes:
    """Single DES with an 8-byte key (TDES with K‖K‖K)."""
    if len(key) != 8:
        raise ValueError("a single-DES key is 8 bytes")
    return tdes_encrypt(key, data, keep=keep)


def des_decrypt(key: bytes, data: bytes, *, keep: bool = True) -> bytes:
    """Single-DES decryption with an 8-byte key."""
    if len(key) != 8:
        raise ValueError("a single-DES key is 8 bytes")
    return tdes_decrypt(key, data, keep=keep)


def aes_encrypt_block(key: bytes, data: bytes) -> bytes:
    """AES-ECB encryption of whole 16-byte blocks (128-, 192- or 256-bit key)."""
    _blocks(data, AES_BLOCK)
    return _aes_ecb(key, True).update(data)


def aes_decrypt_block(key: bytes, data: bytes) -> bytes:
    """AES-ECB decryption of whole 16-byte blocks."""
    _blocks(data, AES_BLOCK)
    return _aes_ecb(key, False).update(data)


_ODD_PARITY = bytes((b & 0xFE) | ((bin(b >> 1).count("1") + 1) % 2) for b in range(256))


def set_odd_parity(key: bytes) -> bytes:
    """Adjust the low bit of every byte so each byte has an odd number of one bits."""
    return key.translate(_ODD_PARITY)


def key_check_value(key: bytes, length: int = 3) -> bytes:
    """KCV of a DES/TDES key: the first ``length`` bytes of TDES(key, 00…00)."""
    return tdes_encrypt(key, bytes(8))[:length]
