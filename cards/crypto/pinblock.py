"""ISO 9564-1 PIN blocks: formats 0, 1 and 3 (8 bytes, TDES) and 4 (16 bytes, AES).

A PIN is 4 to 12 decimal digits. Random fill comes from the ``fill`` argument when given (tests,
deterministic simulation) and from ``secrets`` otherwise.
"""

from __future__ import annotations

import secrets

from cards.crypto.primitives import aes_decrypt_block, aes_encrypt_block, xor

__all__ = [
    "PinBlockError",
    "decipher_iso4",
    "decode_iso0",
    "decode_iso1",
    "decode_iso3",
    "encipher_iso4",
    "encode_iso0",
    "encode_iso1",
    "encode_iso3",
    "iso4_pan_field",
    "iso4_pin_field",
]


class PinBlockError(ValueError):
    """A PIN, PAN or PIN block that does not fit the format (never carries the PIN itself)."""


def _check_pin(pin: str) -> None:
    if not (4 <= len(pin) <= 12 and pin.isascii() and pin.isdigit()):
        raise PinBlockError("a PIN is 4 to 12 digits")


def _check_pan(pan: str) -> None:
    if not (pan.isascii() and pan.isdigit() and len(pan) >= 13):
        raise PinBlockError("a PAN is at least 13 digits")


def _pan_field(pan: str) -> bytes:
    """ISO 0/3 PAN field: 0000 + the 12 rightmost PAN digits excluding the check digit."""
    _check_pan(pan)
    return bytes.fromhex("0000" + pan[-13:-1])


def _pin_field(format_digit: int, pin: str, fill: str) -> bytes:
    _check_pin(pin)
    used = fill[: 14 - len(pin)]
    if len(used) != 14 - len(pin) or any(c not in "0123456789ABCDEF" for c in used):
        raise PinBlockError(f"a {len(pin)}-digit PIN needs {14 - len(pin)} hex digits of fill")
    return bytes.fromhex(f"{format_digit}{len(pin):X}{pin}{used}")


def _random_hex(alphabet: str, count: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(count))


def _check_block(block: bytes) -> bytes:
    """``block`` when it is a clear format 0, 1 or 3 block's 8 bytes; PinBlockError if not."""
    if len(block) != 8:
        raise PinBlockError(f"a PIN block is 8 bytes, not {len(block)}")
    return block


def _decode_pin_field(field: bytes, format_digit: int) -> str:
    text = field.hex().upper()
    length = int(text[1], 16)
    pin = text[2 : 2 + length]
    if text[0] != str(format_digit) or not 4 <= length <= 12 or not pin.isdigit():
        raise PinBlockError(f"not a valid ISO format {format_digit} PIN block")
    return pin


def encode_iso0(pin: str, pan: str) -> bytes:
    """Format 0: PIN field ``0 L PIN F…F`` XOR the PAN field (8 bytes, clear)."""
    return xor(_pin_field(0, pin, "F" * 14), _pan_field(pan))


def decode_iso0(block: bytes, pan: str) -> str:
    """The PIN in a clear format-0 block."""
    field = xor(_check_block(block), _pan_field(pan))
    pin = _decode_pin_field(field, 0)
    if field.hex().upper()[2 + len(pin) :] != "F" * (14 - len(pin)):
        raise PinBlockError("format 0 PIN block has bad padding")
    return pin


def encode_iso1(pin: str, fill: str | None = None) -> bytes:
    """Format 1: ``1 L PIN`` + random hex fill; no PAN (8 bytes, clear)."""
    fill = fill if fill is not None else _random_hex("0123456789ABCDEF", 14)
    return _pin_field(1, pin, fill)


def decode_iso1(block: bytes) -> str:
    return _decode_pin_field(_check_block(block), 1)


def encode_iso3(pin: str, pan: str, fill: str | None = None) -> bytes:
    """Format 3: ``3 L PIN`` + random fill from A-F, XOR the PAN field (8 bytes, clear)."""
    fill = fill if fill is not None else _random_hex("ABCDEF", 14)
    if any(c not in "ABCDEF" for c in fill):
        raise PinBlockError("format 3 fill digits are A to F")
    return xor(_pin_field(3, pin, fill), _pan_field(pan))


def decode_iso3(block: bytes, pan: str) -> str:
    return _decode_pin_field(xor(_check_block(block), _pan_field(pan)), 3)


def iso4_pin_field(pin: str, random_fill: bytes | None = None) -> bytes:
    """Format 4 plain PIN field: ``4 L PIN A…A`` (8 bytes) + 8 random bytes."""
    _check_pin(pin)
    head = bytes.fromhex(f"4{len(pin):X}{pin}" + "A" * (14 - len(pin)))
    tail = random_fill if random_fill is not None else secrets.token_bytes(8)
    if len(tail) != 8:
        raise PinBlockError("format 4 random fill is 8 bytes")
    return head + tail


def iso4_pan_field(pan: str) -> bytes:
    """Format 4 plain PAN field: ``M PAN 0…0`` with M = PAN length - 12 (16 bytes)."""
    if not (pan.isascii() and pan.isdigit() and 1 <= len(pan) <= 19):
        raise PinBlockError("a PAN is 1 to 19 digits")
    digits = pan if len(pan) >= 12 else pan.rjust(12, "0")
    text = f"{len(digits) - 12}{digits}"
    return bytes.fromhex(text.ljust(32, "0"))


def encipher_iso4(key: bytes, pin: str, pan: str, random_fill: bytes | None = None) -> bytes:
    """Format 4 block under AES ``key``: E(K, E(K, PIN field) XOR PAN field) (16 bytes)."""
    intermediate = aes_encrypt_block(key, iso4_pin_field(pin, random_fill))
    return aes_encrypt_block(key, xor(intermediate, iso4_pan_field(pan)))


def decipher_iso4(key: bytes, block: bytes, pan: str) -> str:
    """The PIN in a format 4 block under AES ``key``."""
    if len(block) != 16:
        raise PinBlockError("a format 4 PIN block is 16 bytes")
    intermediate = xor(aes_decrypt_block(key, block), iso4_pan_field(pan))
    field = aes_decrypt_block(key, intermediate)
    pin = _decode_pin_field(field[:8], 4)
    if field[:8].hex().upper()[2 + len(pin) :] != "A" * (14 - len(pin)):
        raise PinBlockError("format 4 PIN block has bad fill")
    return pin
