"""The terminal's PIN pad (pure): encrypts a PIN under the DUKPT key of the next KSN.

It holds the terminal's DUKPT initial key and current KSN, never a BDK. AES DUKPT gives an
ISO format 4 block (16 bytes, default); TDES DUKPT gives an ISO format 0 block (8 bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

from cards.crypto import dukpt_aes, dukpt_tdes
from cards.crypto.pinblock import encipher_iso4, encode_iso0
from cards.crypto.primitives import tdes_encrypt
from switch.security.hsm import TerminalKey

__all__ = ["EncryptedPin", "PinPad"]


@dataclass(frozen=True, slots=True)
class EncryptedPin:
    """DE52 and DE53 for one transaction, as upper-case hex."""

    pin_block: str
    ksn: str

    def __repr__(self) -> str:
        return f"<EncryptedPin ksn={self.ksn}>"


class PinPad:
    """One terminal's PIN pad. Each PIN entry uses the next KSN (a fresh DUKPT key)."""

    def __init__(self, key: TerminalKey) -> None:
        self._key = key
        self._ksn = key.initial_ksn

    @property
    def ksn(self) -> bytes:
        """The KSN of the last PIN entry (the initial KSN before the first)."""
        return self._ksn

    def __repr__(self) -> str:
        return f"<PinPad {self._key.flavour} ksn={self._ksn.hex().upper()}>"

    def encrypt(self, pin: str, pan: str) -> EncryptedPin:
        """Encrypt ``pin`` for ``pan`` under the next transaction key."""
        if self._key.flavour == "aes":
            self._ksn = dukpt_aes.next_ksn(self._ksn)
            txn_key = dukpt_aes.transaction_key(self._key.initial_key, self._ksn)
            pin_key = dukpt_aes.working_key(txn_key, self._ksn, dukpt_aes.KeyUsage.PIN_ENCRYPTION)
            block = encipher_iso4(pin_key, pin, pan)
        else:
            self._ksn = dukpt_tdes.next_ksn(self._ksn)
            txn_key = dukpt_tdes.transaction_key(self._key.initial_key, self._ksn)
            block = tdes_encrypt(dukpt_tdes.pin_key(txn_key), encode_iso0(pin, pan))
        return EncryptedPin(block.hex().upper(), self._ksn.hex().upper())
