"""Issuer PIN verification values: Visa PVV and IBM 3624 natural PIN / offset."""

from __future__ import annotations

from cards.crypto.primitives import tdes_encrypt

__all__ = ["decimalize", "ibm3624_natural_pin", "ibm3624_offset", "visa_pvv"]


def decimalize(data: bytes, count: int) -> str:
    """Visa decimalization: the decimal digits of the hex string in order, then the letters
    A-F as 0-5, first ``count`` of them."""
    text = data.hex().upper()
    digits = [c for c in text if c.isdigit()]
    digits += [str(int(c, 16) - 10) for c in text if not c.isdigit()]
    return "".join(digits[:count])


def visa_pvv(pvk: bytes, pvki: int, pin: str, pan: str) -> str:
    """Visa PIN verification value (4 digits): TDES(PVK, 11 PAN digits ‖ PVKI ‖ 4 PIN digits)."""
    if not 0 <= pvki <= 9:
        raise ValueError("PVKI is one digit")
    if len(pin) < 4 or not pin.isdigit():
        raise ValueError("a PIN is at least 4 digits")
    tsp = f"{pan[-12:-1]}{pvki}{pin[:4]}"
    return decimalize(tdes_encrypt(pvk, bytes.fromhex(tsp)), 4)


def ibm3624_natural_pin(
    pvk: bytes,
    decimalization_table: str,
    pan: str,
    *,
    length: int,
    pan_offset: int = 0,
    pan_length: int = 16,
    pad: str = "F",
) -> str:
    """IBM 3624 natural PIN: encrypt the validation data (PAN digits padded to 16 hex digits),
    map every hex digit through the decimalization table, keep ``length`` digits."""
    if len(decimalization_table) != 16 or not decimalization_table.isdigit():
        raise ValueError("a decimalization table is 16 digits")
    validation = pan[pan_offset : pan_offset + pan_length].ljust(16, pad)
    encrypted = tdes_encrypt(pvk, bytes.fromhex(validation)).hex().upper()
    return "".join(decimalization_table[int(c, 16)] for c in encrypted[:length])


def ibm3624_offset(
    pvk: bytes,
    decimalization_table: str,
    pin: str,
    pan: str,
    *,
    pan_offset: int = 0,
    pan_length: int = 16,
    pad: str = "F",
) -> str:
    """IBM 3624 PIN offset: (customer PIN - natural PIN) digit by digit, modulo 10."""
    if len(pin) < 4 or not pin.isdigit():
        raise ValueError("a PIN is at least 4 digits")
    natural = ibm3624_natural_pin(
        pvk, decimalization_table, pan, length=len(pin), pan_offset=pan_offset,
        pan_length=pan_length, pad=pad,
    )  # fmt: skip
    return "".join(str((int(p) - int(n)) % 10) for p, n in zip(pin, natural, strict=True))
