"""Card verification values: CVV (track service code), CVV2 (000) and iCVV (999)."""

from __future__ import annotations

from cards.crypto.pinverify import decimalize
from cards.crypto.primitives import des_encrypt, tdes_encrypt, xor

__all__ = ["CVV2_SERVICE_CODE", "ICVV_SERVICE_CODE", "card_verification_value"]

CVV2_SERVICE_CODE = "000"
ICVV_SERVICE_CODE = "999"


def card_verification_value(cvk: bytes, pan: str, expiry_yymm: str, service_code: str) -> str:
    """The 3-digit CVV of ``pan`` under the 16-byte key pair ``cvk`` (CVK-A ‖ CVK-B).

    Data = PAN ‖ YYMM ‖ service code, zero-padded to 32 hex digits, split in two blocks:
    DES(CVK-A, B1) XOR B2, then TDES(CVK), decimalized.
    """
    if len(cvk) != 16:
        raise ValueError("a CVK pair is 16 bytes")
    if len(expiry_yymm) != 4 or len(service_code) != 3:
        raise ValueError("expiry is YYMM and the service code 3 digits")
    data = f"{pan}{expiry_yymm}{service_code}".ljust(32, "0")
    if len(data) != 32:
        raise ValueError("PAN, expiry and service code exceed 32 digits")
    block1, block2 = bytes.fromhex(data[:16]), bytes.fromhex(data[16:])
    step = xor(des_encrypt(cvk[:8], block1), block2)
    return decimalize(tdes_encrypt(cvk, step), 3)
