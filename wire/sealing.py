"""A terminal's injected key, one DUKPT transaction's working keys, and the request MAC
(shared by terminals and the HSM).

A terminal is injected with a :class:`TerminalKey` (its initial key and KSN, never a BDK). It
derives each transaction's keys from its initial key, the host from its BDK; both then encrypt
or recover the PIN (AES DUKPT: ISO format 4; TDES DUKPT: ISO format 0) and compute the MAC over
the JSON payload with DE64 set to :data:`MAC_PLACEHOLDER`, or over the ISO 8583 bytes before
the MAC field (AES-CMAC / ANSI X9.19 retail MAC, 8 bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from cards.crypto import dukpt_aes, dukpt_tdes
from cards.crypto.mac import aes_cmac, retail_mac
from cards.crypto.pinblock import encipher_iso4, encode_iso0
from cards.crypto.primitives import tdes_encrypt
from wire.protocol.codec import Encoding, encode
from wire.protocol.iso8583 import MAC_BYTES
from wire.protocol.messages import IsoMessage

__all__ = [
    "MAC_PLACEHOLDER",
    "DukptFlavour",
    "TerminalKey",
    "TransactionKeys",
    "mac_input",
    "mac_of",
    "seal",
    "transaction_keys",
]

DukptFlavour = Literal["aes", "tdes"]
"""AES DUKPT (ANSI X9.24-3-2017) or TDES DUKPT (ANSI X9.24-1-2009)."""


@dataclass(frozen=True, slots=True)
class TerminalKey:
    """What a terminal is injected with: its DUKPT initial key and initial KSN (never a BDK)."""

    flavour: DukptFlavour
    initial_key: bytes = field(repr=False)
    initial_ksn: bytes


MAC_PLACEHOLDER = "0" * 16
"""DE64 while the MAC is computed: the MAC covers the payload with this value in DE64."""
_MAC_FIELD = re.compile(rb'("64"\s*:\s*")[0-9A-Fa-f]*(")')


def mac_input(payload: bytes, encoding: Encoding = Encoding.JSON) -> bytes:
    """The bytes a request's MAC covers: the JSON payload with DE64's value zeroed; in ISO
    8583 binary, every byte before the MAC (DE64 or DE128, always the last field)."""
    if encoding is Encoding.ISO8583:
        return payload[:-MAC_BYTES]
    return _MAC_FIELD.sub(rb"\g<1>" + MAC_PLACEHOLDER.encode() + rb"\g<2>", payload, count=1)


@dataclass(frozen=True, slots=True)
class TransactionKeys:
    """The working keys of one DUKPT transaction (reprs show the KSN only)."""

    flavour: DukptFlavour
    ksn: bytes
    pin_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)

    @property
    def ksn_hex(self) -> str:
        return self.ksn.hex().upper()

    def encrypt_pin(self, pin: str, pan: str) -> str:
        """DE52 for ``pin``: the PIN block under this transaction's PIN key, as hex."""
        if self.flavour == "aes":
            return encipher_iso4(self.pin_key, pin, pan).hex().upper()
        return tdes_encrypt(self.pin_key, encode_iso0(pin, pan)).hex().upper()

    def mac(self, payload: bytes, encoding: Encoding = Encoding.JSON) -> str:
        """DE64 for a payload built with :data:`MAC_PLACEHOLDER` in DE64, as hex."""
        return mac_of(self.flavour, self.mac_key, payload, encoding)


def mac_of(
    flavour: DukptFlavour, mac_key: bytes, payload: bytes, encoding: Encoding = Encoding.JSON
) -> str:
    """The 8-byte request MAC of ``payload`` (:func:`mac_input`)."""
    data = mac_input(payload, encoding)
    if flavour == "aes":
        return aes_cmac(mac_key, data, length=8).hex().upper()
    return retail_mac(mac_key, data).hex().upper()


def transaction_keys(flavour: DukptFlavour, initial_key: bytes, ksn: bytes) -> TransactionKeys:
    """Working keys for transaction ``ksn`` (terminal side from the initial key; the host gets
    the same from the BDK)."""
    if flavour == "aes":
        txn = dukpt_aes.transaction_key(initial_key, ksn)
        usage = dukpt_aes.KeyUsage
        return TransactionKeys(
            "aes",
            ksn,
            dukpt_aes.working_key(txn, ksn, usage.PIN_ENCRYPTION),
            dukpt_aes.working_key(txn, ksn, usage.MAC_GENERATION),
        )
    txn = dukpt_tdes.transaction_key(initial_key, ksn)
    return TransactionKeys("tdes", ksn, dukpt_tdes.pin_key(txn), dukpt_tdes.mac_request_key(txn))


def seal(
    message: IsoMessage, keys: TransactionKeys | None, encoding: Encoding = Encoding.JSON
) -> bytes:
    """The wire bytes of ``message`` in ``encoding``, with its request MAC (DE64; DE128 in
    binary with a secondary bitmap) when ``keys`` are given."""
    if keys is None:
        return encode(message, encoding)
    placeholder = encode(message.model_copy(update={"mac": MAC_PLACEHOLDER}), encoding)
    mac = keys.mac(placeholder, encoding)
    if encoding is Encoding.ISO8583:
        return placeholder[:-MAC_BYTES] + bytes.fromhex(mac)
    return encode(message.model_copy(update={"mac": mac}))
