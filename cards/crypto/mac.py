"""Message authentication codes: ISO 9797-1 algorithm 1 (CBC-MAC) and algorithm 3 (ANSI X9.19
retail MAC) with padding methods 1, 2 and 3, and AES-CMAC (NIST SP 800-38B)."""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from cards.crypto.primitives import des_decrypt, des_encrypt, tdes_cbc_encrypt

__all__ = ["aes_cmac", "cbc_mac", "macs_equal", "pad_iso9797", "retail_mac"]


def pad_iso9797(data: bytes, method: int, block: int = 8) -> bytes:
    """ISO 9797-1 padding. 1: zeros (none if already aligned, one block if empty);
    2: 0x80 then zeros; 3: the bit length as one block, then method 1."""
    if method == 1:
        if data and len(data) % block == 0:
            return data
        return data + bytes(-len(data) % block or block)
    if method == 2:
        padded = data + b"\x80"
        return padded + bytes(-len(padded) % block)
    if method == 3:
        prefix = (len(data) * 8).to_bytes(block, "big")
        return prefix + pad_iso9797(data, 1, block)
    raise ValueError(f"ISO 9797-1 padding method {method} is not 1, 2 or 3")


def cbc_mac(key: bytes, data: bytes, *, padding: int = 1, length: int = 8) -> bytes:
    """ISO 9797-1 MAC algorithm 1: the last block of DES/TDES-CBC over the padded data."""
    return tdes_cbc_encrypt(key, pad_iso9797(data, padding))[-8:][:length]


def retail_mac(key: bytes, data: bytes, *, padding: int = 1, length: int = 8) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (ANSI X9.19): single-DES CBC under K1, then the last block
    decrypted under K2 and encrypted under K1 (``key`` = K1 ‖ K2, 16 bytes)."""
    if len(key) != 16:
        raise ValueError("a retail MAC key is 16 bytes (K1 ‖ K2)")
    k1, k2 = key[:8], key[8:]
    state = tdes_cbc_encrypt(k1, pad_iso9797(data, padding))[-8:]  # single-DES CBC under K1
    # K1 and K2 are a session's (an ARQC's, say): their contexts are not kept.
    return des_encrypt(k1, des_decrypt(k2, state, keep=False), keep=False)[:length]


def aes_cmac(key: bytes, data: bytes, *, length: int = 16) -> bytes:
    """AES-CMAC of ``data`` (16/24/32-byte key), truncated to ``length`` bytes."""
    signer = cmac.CMAC(algorithms.AES(key))
    signer.update(data)
    return signer.finalize()[:length]


def macs_equal(expected: bytes, received: bytes) -> bool:
    """Constant-time comparison of two MACs."""
    return hmac.compare_digest(expected, received)
