"""EMV issuer cryptography: ICC master key (option A), common session key, ARQC and ARPC.

References: EMV Book 2 Annex A1.3 (session keys), A1.4 (master key derivation), 8.1 (AC),
8.2 (ARPC methods 1 and 2). The AC is ISO 9797-1 MAC algorithm 3 with padding method 2.
"""

from __future__ import annotations

from cards.crypto.mac import macs_equal, retail_mac
from cards.crypto.primitives import set_odd_parity, tdes_encrypt, xor

__all__ = [
    "arpc_method_1",
    "arpc_method_2",
    "common_session_key",
    "generate_ac",
    "icc_master_key",
    "verify_ac",
]

_ALL_ONES = b"\xff" * 8


def icc_master_key(issuer_master_key: bytes, pan: str, psn: str = "00") -> bytes:
    """ICC master key, option A: Y = rightmost 16 digits of PAN ‖ PSN (zero-padded left);
    MK = TDES(IMK, Y) ‖ TDES(IMK, Y XOR FF…FF), odd parity."""
    if len(psn) != 2 or not psn.isdigit():
        raise ValueError("a PAN sequence number here is 2 digits")
    digits = (pan + psn)[-16:].rjust(16, "0")
    y = bytes.fromhex(digits)
    return set_odd_parity(
        tdes_encrypt(issuer_master_key, y) + tdes_encrypt(issuer_master_key, xor(y, _ALL_ONES))
    )


def common_session_key(master_key: bytes, r: bytes) -> bytes:
    """EMV common session key for diversification value ``r`` (8 bytes, ATC ‖ 00…):
    TDES(MK, R0 R1 F0 R3…R7) ‖ TDES(MK, R0 R1 0F R3…R7), odd parity."""
    if len(r) != 8:
        raise ValueError("the session key diversification value is 8 bytes")
    left = r[:2] + b"\xf0" + r[3:]
    right = r[:2] + b"\x0f" + r[3:]
    return set_odd_parity(tdes_encrypt(master_key, left) + tdes_encrypt(master_key, right))


def generate_ac(session_key: bytes, data: bytes) -> bytes:
    """Application cryptogram (ARQC/TC/AAC): retail MAC with padding method 2, 8 bytes."""
    return retail_mac(session_key, data, padding=2)


def verify_ac(session_key: bytes, data: bytes, cryptogram: bytes) -> bool:
    """True when ``cryptogram`` is the AC of ``data`` under ``session_key`` (constant time)."""
    return macs_equal(generate_ac(session_key, data), cryptogram)


def arpc_method_1(key: bytes, arqc: bytes, response_code: bytes) -> bytes:
    """ARPC method 1: TDES(key, ARQC XOR (ARC ‖ 00…)), with a 2-byte authorization response
    code; 8 bytes, returned in tag 91 followed by the ARC."""
    if len(arqc) != 8 or len(response_code) != 2:
        raise ValueError("ARQC is 8 bytes and the ARC 2 bytes")
    return tdes_encrypt(key, xor(arqc, response_code + bytes(6)), keep=False)


def arpc_method_2(key: bytes, arqc: bytes, csu: bytes, proprietary: bytes = b"") -> bytes:
    """ARPC method 2: retail MAC (padding 2) over ARQC ‖ CSU ‖ proprietary data, 4 bytes."""
    if len(arqc) != 8 or len(csu) != 4:
        raise ValueError("ARQC is 8 bytes and the card status update 4 bytes")
    return retail_mac(key, arqc + csu + proprietary, padding=2, length=4)
