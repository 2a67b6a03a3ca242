"""The simulated hardware security module: the only code that uses BDKs and issuer keys.

It keys terminals (DUKPT initial key for a TID, as a key-injection facility would), computes
PVVs at issuance, and verifies PIN blocks. PINs, PIN blocks and keys never leave it: callers
get a verdict, never a clear PIN.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache

from cards.chip import ChipError, cryptogram_data, session_key_r
from cards.crypto import dukpt_aes, dukpt_tdes, emv
from cards.crypto.cvv import card_verification_value
from cards.crypto.otp import totp, totp_matches
from cards.crypto.pinblock import PinBlockError, decipher_iso4, decode_iso0
from cards.crypto.pinverify import visa_pvv
from cards.crypto.primitives import tdes_decrypt
from switch.security.keys import KeyStore, KeyStoreError
from wire.protocol.codec import Encoding
from wire.sealing import DukptFlavour, TerminalKey, TransactionKeys, mac_of, transaction_keys

__all__ = ["ArqcCheck", "CvvCheck", "PinCheck", "SecurityModule"]


class PinCheck(StrEnum):
    """Verdict on a PIN block."""

    OK = "ok"
    WRONG = "wrong"
    UNREADABLE = "unreadable"
    """Not decryptable or not a valid PIN block: wrong keys, wrong KSN, or tampering."""


class ArqcCheck(StrEnum):
    """Verdict on the ICC data (DE55) of a chip transaction."""

    OK = "ok"
    FAILED = "failed"
    """The ARQC does not verify: not this card, or data changed after the card signed it."""
    MALFORMED = "malformed"
    """DE55 is not valid TLV or lacks a tag the cryptogram covers."""
    MISSING = "missing"
    """A chip read (DE22 05x, contactless 07x) without DE55: the card's cryptogram is mandatory."""


class CvvCheck(StrEnum):
    """Verdict on the card code of a magstripe (CVV in DE35) or keyed (CVV2 in DE48) purchase."""

    OK = "ok"
    WRONG_CVV = "wrong cvv"
    WRONG_CVV2 = "wrong cvv2"
    TRACK_MISSING = "track 2 missing"
    TRACK_MISMATCH = "track 2 is another card"
    CVV2_MISSING = "cvv2 missing"


_TDES_COUNTER = (1 << 21) - 1
"""The transaction counter of a TDES KSN: its low 21 bits."""


def _derivation_id(tid: str, size: int) -> bytes:
    return hashlib.sha256(tid.encode()).digest()[:size]


class SecurityModule:
    """Keys terminals and verifies PINs with the keys of a :class:`KeyStore`."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._issued: dict[str, tuple[bytes, bytes]] = {}
        """Initial KSNs (AES, TDES) by TID, as :meth:`inject_terminal_key` issues them."""

    def __repr__(self) -> str:
        return f"<SecurityModule {len(self._keys.bdks)} BDKs, {len(self._keys.issuers)} issuers>"

    def inject_terminal_key(self, tid: str, flavour: DukptFlavour = "aes") -> TerminalKey:
        """The initial key and KSN for terminal ``tid`` (deterministic per TID and BDK)."""
        bdk = self._keys.bdks[self._keys.terminal_bdk[flavour]]
        ksn = self._initial_ksn(tid, flavour)
        if flavour == "aes":
            return TerminalKey("aes", dukpt_aes.initial_key(bdk.key, ksn[:8]), ksn)
        return TerminalKey("tdes", dukpt_tdes.initial_key(bdk.key, ksn), ksn)

    def issued_to(self, tid: str, ksn: bytes) -> bool:
        """True when ``ksn`` is a transaction of the initial key injected into terminal ``tid``
        (same key identity, any counter): a MAC or PIN block under another terminal's key, or
        under a key never issued, is not this terminal's."""
        issued = self._issued.get(tid)
        if issued is None:
            issued = self._issued[tid] = (self._initial_ksn(tid, "aes"),
                                          self._initial_ksn(tid, "tdes"))  # fmt: skip
        aes, tdes = issued
        if len(ksn) == len(aes):
            return ksn[:8] == aes[:8]
        if len(ksn) == len(tdes):
            return int.from_bytes(ksn, "big") & ~_TDES_COUNTER == int.from_bytes(tdes, "big")
        return False

    def _initial_ksn(self, tid: str, flavour: DukptFlavour) -> bytes:
        """The initial KSN :meth:`inject_terminal_key` gives ``tid`` (without deriving a key)."""
        bdk = self._keys.bdks[self._keys.terminal_bdk[flavour]]
        if flavour == "aes":
            return bytes.fromhex(bdk.id) + _derivation_id(tid, 4) + bytes(4)
        device = int.from_bytes(_derivation_id(tid, 3), "big") & 0x7FFFF  # 19-bit device id
        return ((int(bdk.id, 16) << 40) | (device << 21)).to_bytes(10, "big")

    def pvv(self, issuer: str, pan: str, pin: str) -> str:
        """The Visa PVV an issuer records for ``pin`` (card issuance)."""
        keys = self._keys.issuer(issuer)
        return visa_pvv(keys.pvk, keys.pvki, pin, pan)

    def transaction(self, ksn: bytes) -> TransactionKeys:
        """The working keys of transaction ``ksn``, derived from the BDK its KSN names."""
        return _transaction(self._keys, ksn)

    @staticmethod
    def _clear_pin(pan: str, pin_block: bytes, keys: TransactionKeys) -> str:
        if keys.flavour == "aes":
            return decipher_iso4(keys.pin_key, pin_block, pan)
        return decode_iso0(tdes_decrypt(keys.pin_key, pin_block), pan)

    def verify_pin(
        self, *, issuer: str, pan: str, pvv: str, pin_block: bytes, ksn: bytes
    ) -> PinCheck:
        """Decrypt ``pin_block`` under the DUKPT key of ``ksn`` and compare its PVV with ``pvv``."""
        try:
            pin = self._clear_pin(pan, pin_block, self.transaction(ksn))
            expected = self.pvv(issuer, pan, pin)
        except (ValueError, KeyError, PinBlockError, KeyStoreError):
            return PinCheck.UNREADABLE
        return PinCheck.OK if hmac.compare_digest(expected, pvv) else PinCheck.WRONG

    def verify_mac(
        self, *, ksn: bytes, payload: bytes, mac: str, encoding: Encoding = Encoding.JSON
    ) -> bool:
        """True when ``mac`` (DE64, hex) is the request MAC of ``payload`` (in ``encoding``)
        under ``ksn``."""
        try:
            keys = self.transaction(ksn)
        except (ValueError, KeyError):
            return False
        expected = mac_of(keys.flavour, keys.mac_key, payload, encoding)
        return hmac.compare_digest(expected, mac.upper())

    def card_verification_value(
        self, issuer: str, pan: str, expiry_yymm: str, service_code: str
    ) -> str:
        """The CVV of ``pan`` for ``service_code`` (track: the card's; CVV2: 000; iCVV: 999)."""
        return card_verification_value(
            self._keys.issuer(issuer).cvk, pan, expiry_yymm, service_code
        )

    def verify_cvv(
        self, *, issuer: str, pan: str, expiry_yymm: str, service_code: str, value: str
    ) -> bool:
        """True when ``value`` is the CVV (or CVV2, service code 000) of the card."""
        try:
            expected = self.card_verification_value(issuer, pan, expiry_yymm, service_code)
        except (ValueError, KeyStoreError):
            return False
        return hmac.compare_digest(expected, value)

    def _wallet_key(self, issuer: str, pan: str) -> bytes:
        """The one-time-code key of the wallet app enrolled with ``pan`` (derived from the
        issuer's CVK: a simulator's choice, no scheme's)."""
        cvk = self._keys.issuer(issuer).cvk
        return hmac.new(cvk, b"tpesim wallet OTP " + pan.encode(), hashlib.sha256).digest()[:20]

    def wallet_code(self, issuer: str, pan: str, at_s: float) -> str:
        """The 6-digit one-time code the holder's wallet app shows at ``at_s`` (TOTP, 30 s)."""
        return totp(self._wallet_key(issuer, pan), at_s)

    def verify_wallet_code(self, *, issuer: str, pan: str, code: str, at_s: float) -> bool:
        """True when ``code`` is the wallet's code at ``at_s``, or of the step before or after."""
        try:
            return totp_matches(self._wallet_key(issuer, pan), code, at_s)
        except KeyStoreError:
            return False

    def personalize_chip(self, issuer: str, pan: str, psn: int) -> bytes:
        """The ICC master key a card bureau writes into the chip of ``pan`` (EMV option A)."""
        return _icc_master_key(self._keys.issuer(issuer).imk_ac, pan, psn)

    def _icc_session_key(self, issuer: str, pan: str, icc: Mapping[str, bytes]) -> bytes:
        """The session key of the chip transaction in ``icc`` (PSN from 5F34, ATC from 9F36)."""
        psn = icc["5F34"][0] if icc.get("5F34") else 0
        return _session_key(self.personalize_chip(issuer, pan, psn), icc["9F36"])

    def verify_arqc(self, *, issuer: str, pan: str, icc: Mapping[str, bytes]) -> ArqcCheck:
        """Check the ARQC in ``icc`` (decoded DE55) against the card's keys and data."""
        try:
            data = cryptogram_data(icc)
            session_key = self._icc_session_key(issuer, pan, icc)
        except (ChipError, KeyError, KeyStoreError, ValueError):
            return ArqcCheck.MALFORMED
        if len(icc["9F36"]) != 2 or len(icc.get("9F26", b"")) != 8:
            return ArqcCheck.MALFORMED
        ok = emv.verify_ac(session_key, data, icc["9F26"])
        return ArqcCheck.OK if ok else ArqcCheck.FAILED

    def arpc(self, *, issuer: str, pan: str, icc: Mapping[str, bytes], response_code: str) -> bytes:
        """Tag 91 for the response: ARPC (method 1, session key) ‖ ARC (DE39 in ASCII)."""
        session_key = self._icc_session_key(issuer, pan, icc)
        arc = response_code.encode("ascii")
        return emv.arpc_method_1(session_key, icc["9F26"], arc) + arc


@lru_cache(maxsize=512)
def _transaction(keys: KeyStore, ksn: bytes) -> TransactionKeys:
    """Host-side DUKPT derivation (cached: a request's PIN and MAC share one transaction)."""
    if len(ksn) == 12:
        bdk = keys.bdks[ksn[:4].hex().upper()]
        return transaction_keys("aes", dukpt_aes.initial_key(bdk.key, ksn[:8]), ksn)
    if len(ksn) == 10:
        bdk = keys.bdks[ksn[:5].hex().upper()]
        return transaction_keys("tdes", dukpt_tdes.initial_key(bdk.key, ksn), ksn)
    raise ValueError("a KSN is 10 (TDES DUKPT) or 12 (AES DUKPT) bytes")


@lru_cache(maxsize=4096)
def _icc_master_key(imk: bytes, pan: str, psn: int) -> bytes:
    """A card's ICC master key (cached: the issuer derives it for every chip transaction)."""
    return emv.icc_master_key(imk, pan, f"{psn:02d}")


@lru_cache(maxsize=1024)
def _session_key(master_key: bytes, atc: bytes) -> bytes:
    """The session key of one chip transaction (the ARQC check and the ARPC share it)."""
    return emv.common_session_key(master_key, session_key_r(atc))
