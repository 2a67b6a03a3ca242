"""Card security on ``cryptography``: PIN blocks, PVV/IBM 3624, CVV, MACs, TDES and AES DUKPT,
EMV ARQC/ARPC and BER-TLV. Pure and synchronous. TDES is used only through
``cards.crypto.primitives`` (``cryptography.hazmat.decrepit``, 24-byte keys, no warnings).
"""

from cards.crypto import dukpt_aes, dukpt_tdes, emv, tlv
from cards.crypto.cvv import CVV2_SERVICE_CODE, ICVV_SERVICE_CODE, card_verification_value
from cards.crypto.dukpt_tdes import DukptExhaustedError
from cards.crypto.mac import aes_cmac, cbc_mac, macs_equal, pad_iso9797, retail_mac
from cards.crypto.pinblock import (
    PinBlockError,
    decipher_iso4,
    decode_iso0,
    decode_iso1,
    decode_iso3,
    encipher_iso4,
    encode_iso0,
    encode_iso1,
    encode_iso3,
)
from cards.crypto.pinverify import decimalize, ibm3624_natural_pin, ibm3624_offset, visa_pvv
from cards.crypto.primitives import key_check_value, set_odd_parity, tdes_decrypt, tdes_encrypt

__all__ = [
    "CVV2_SERVICE_CODE",
    "ICVV_SERVICE_CODE",
    "DukptExhaustedError",
    "PinBlockError",
    "aes_cmac",
    "card_verification_value",
    "cbc_mac",
    "decimalize",
    "decipher_iso4",
    "decode_iso0",
    "decode_iso1",
    "decode_iso3",
    "dukpt_aes",
    "dukpt_tdes",
    "emv",
    "encipher_iso4",
    "encode_iso0",
    "encode_iso1",
    "encode_iso3",
    "ibm3624_natural_pin",
    "ibm3624_offset",
    "key_check_value",
    "macs_equal",
    "pad_iso9797",
    "retail_mac",
    "set_odd_parity",
    "tdes_decrypt",
    "tdes_encrypt",
    "tlv",
    "visa_pvv",
]
