"""The simulated HSM at its edges: the key layout terminals are given, the wallet's one-time
codes, CVV and ARQC checks on malformed or foreign input, each with an exact verdict.

The terminal and the switch share the derivations, so values are checked against independent
oracles (pyemv, psec, `cryptography`'s RFC 6238 TOTP) or, for the key layout that is
tpesim's own choice, against fixed values worked out by hand from docs/protocol.md.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Callable
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from cards.chip import Chip, TerminalData
from switch.security import ArqcCheck, KeyStoreError, SecurityModule, load_keys
from wire.sealing import DukptFlavour

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from psec import cvv as psec_cvv
    from pyemv import kd as pyemv_kd

T = TypeVar("T")

KEYS = load_keys()
HSM = SecurityModule(KEYS)
ISSUER = "algerie-poste"
PAN = "6280581110007215"  # EDH-VALID: expiry 2906, service code 201
AT_S = 1_795_000_000
"""A fixed instant (2026-11-18 11:06:40 UTC), a third into TOTP step 59 833 333."""
DATA = TerminalData(150_000, "012", "012", "261123", b"abcd")


def _oracle(call: Callable[[], T]) -> T:
    """Run an oracle call with its TDES deprecation warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


# --- the key layout a terminal is injected with ----------------------------------------------


def test_initial_ksns_follow_the_documented_layout() -> None:
    """DZAL0001's initial KSNs, pinned. SHA-256("DZAL0001") begins 2A58AE09. AES: BDK id
    12345678 ‖ those 4 bytes ‖ counter 00000000. TDES: key set id FFFF987654 ‖ device id
    0x2A58AE & 0x7FFFF = 0x258AE (low 19 bits of the first 3 bytes) ‖ 21-bit counter 0, so
    the last 5 bytes are 0x258AE << 21 = 4B15C00000."""
    assert hashlib.sha256(b"DZAL0001").hexdigest()[:8].upper() == "2A58AE09"
    aes = HSM.inject_terminal_key("DZAL0001", "aes").initial_ksn
    tdes = HSM.inject_terminal_key("DZAL0001", "tdes").initial_ksn
    assert aes.hex().upper() == "123456782A58AE0900000000"
    assert tdes.hex().upper() == "FFFF9876544B15C00000"


@pytest.mark.parametrize("tid", ["DZAL0002", "DZOR0001", "MACA0025"])
@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_initial_ksn_of_any_tid_is_its_hash_in_the_documented_layout(
    tid: str, flavour: DukptFlavour
) -> None:
    """For other TIDs the KSN is rebuilt from the layout text: first 4 bytes of SHA-256 of the
    TID (AES), or the low 19 bits of its first 3 bytes as device id (TDES)."""
    digest = hashlib.sha256(tid.encode()).digest()
    if flavour == "aes":
        expected = bytes.fromhex("12345678") + digest[:4] + bytes(4)
    else:
        device = int.from_bytes(digest[:3], "big") % (1 << 19)
        expected = (0xFFFF987654 * (1 << 40) + device * (1 << 21)).to_bytes(10, "big")
    assert HSM.inject_terminal_key(tid, flavour).initial_ksn == expected
    assert HSM.issued_to(tid, expected)


def test_a_counter_on_the_pinned_ksns_is_still_the_terminals() -> None:
    """The pinned initial KSNs with a counter of 1 (or the TDES counter's top bit) are
    DZAL0001's; one device-id bit higher is not."""
    assert HSM.issued_to("DZAL0001", bytes.fromhex("123456782A58AE0900000001"))
    assert HSM.issued_to("DZAL0001", bytes.fromhex("FFFF9876544B15C00001"))
    assert HSM.issued_to("DZAL0001", bytes.fromhex("FFFF9876544B15D00000"))
    assert not HSM.issued_to("DZAL0001", bytes.fromhex("FFFF9876544B15E00000"))
    assert not HSM.issued_to("DZAL0001", bytes.fromhex("123456782A58AE0800000001"))


def test_a_ksn_of_another_length_names_no_key() -> None:
    """KSNs of 9, 11 or 13 bytes: not issued, no transaction keys, no MAC verifies."""
    for size in (9, 11, 13):
        ksn = bytes(size)
        assert not HSM.issued_to("DZAL0001", ksn)
        with pytest.raises(ValueError, match="10 \\(TDES DUKPT\\) or 12"):
            HSM.transaction(ksn)
        assert not HSM.verify_mac(ksn=ksn, payload=b"{}", mac="0" * 16)


# --- the wallet app's one-time codes ---------------------------------------------------------


def _wallet_totp(pan: str) -> TOTP:
    """RFC 6238 (SHA-1, 6 digits, 30 s) from `cryptography`, under the wallet key layout:
    HMAC-SHA-256(issuer CVK, "tpesim wallet OTP " ‖ PAN), first 20 bytes."""
    cvk = KEYS.issuer(ISSUER).cvk
    key = hmac.new(cvk, b"tpesim wallet OTP " + pan.encode(), hashlib.sha256).digest()[:20]
    return TOTP(key, 6, SHA1(), 30, enforce_key_length=False)


def test_wallet_code_matches_an_rfc6238_oracle() -> None:
    """The wallet's code is the oracle's TOTP under the documented key; pinned at AT_S."""
    oracle = _wallet_totp(PAN)
    for delta in (-90, -30, 0, 29, 30, 600):
        code = oracle.generate(AT_S + delta).decode()
        assert HSM.wallet_code(ISSUER, PAN, AT_S + delta) == code
    assert HSM.wallet_code(ISSUER, PAN, AT_S) == "614591"


def test_wallet_codes_differ_between_cards() -> None:
    """The key covers the PAN: another card's code is the oracle's for that PAN."""
    other = "6280581110008007"
    assert HSM.wallet_code(ISSUER, other, AT_S) == _wallet_totp(other).generate(AT_S).decode()
    assert HSM.wallet_code(ISSUER, other, AT_S) != HSM.wallet_code(ISSUER, PAN, AT_S)


def test_wallet_code_window_is_one_step_each_side() -> None:
    """verify_wallet_code takes the oracle's code of this step and of the one before or after,
    not two steps away (codes pinned: 022465 201810 [614591] 379100 706888)."""
    oracle = _wallet_totp(PAN)
    codes = [oracle.generate(AT_S + 30 * step).decode() for step in range(-2, 3)]
    assert codes == ["022465", "201810", "614591", "379100", "706888"]
    verdicts = [HSM.verify_wallet_code(issuer=ISSUER, pan=PAN, code=code, at_s=AT_S)
                for code in codes]  # fmt: skip
    assert verdicts == [False, True, True, True, False]


def test_wallet_code_of_an_unknown_issuer() -> None:
    """No keys for the issuer: no code to show, and no code verifies (not even the real one)."""
    code = HSM.wallet_code(ISSUER, PAN, AT_S)
    assert not HSM.verify_wallet_code(issuer="nobody", pan=PAN, code=code, at_s=AT_S)
    with pytest.raises(KeyStoreError):
        HSM.wallet_code("nobody", PAN, AT_S)


# --- CVV -------------------------------------------------------------------------------------


def test_cvv_verification_against_psec() -> None:
    """The right CVV and CVV2 (psec's) verify; a wrong digit, an unknown issuer or a service
    code of the wrong length do not."""
    cvk = KEYS.issuer(ISSUER).cvk
    cvv = _oracle(lambda: psec_cvv.generate_cvv(cvk, PAN, "2906", "201"))
    cvv2 = _oracle(lambda: psec_cvv.generate_cvv(cvk, PAN, "2906", "000"))
    assert (cvv, cvv2) == ("664", "807")

    def check(service_code: str, value: str, issuer: str = ISSUER) -> bool:
        return HSM.verify_cvv(issuer=issuer, pan=PAN, expiry_yymm="2906",
                              service_code=service_code, value=value)  # fmt: skip

    assert check("201", cvv) and check("000", cvv2)
    assert not check("201", "665") and not check("000", cvv) and not check("101", cvv)
    assert not check("201", cvv, issuer="nobody")
    assert not check("20", cvv) and not check("2010", cvv)


# --- ARQC and DE55 ---------------------------------------------------------------------------


def _genuine(psn: int = 1) -> dict[str, bytes]:
    """DE55 of a chip personalized by pyemv (EMV option A) for PAN and ``psn``."""
    imk = KEYS.issuer(ISSUER).imk_ac
    master = _oracle(lambda: pyemv_kd.derive_icc_mk_a(imk, PAN, f"{psn:02d}"))
    return Chip(PAN, psn, master).generate_arqc(DATA)


def _verdict(icc: dict[str, bytes]) -> ArqcCheck:
    return HSM.verify_arqc(issuer=ISSUER, pan=PAN, icc=icc)


def test_genuine_arqcs_verify_for_each_psn() -> None:
    """pyemv-personalized chips with PSN 00, 01 and 42 verify; a PSN that is not the chip's
    does not."""
    for psn in (0, 1, 42):
        tags = _genuine(psn)
        assert tags["5F34"] == bytes([psn])
        assert _verdict(tags) is ArqcCheck.OK
        assert _verdict(tags | {"5F34": bytes([psn + 1])}) is ArqcCheck.FAILED


def test_a_missing_psn_means_psn_00() -> None:
    """DE55 without 5F34 is checked with PSN 00 (EMV Book 2 A1.4): the PSN-00 card verifies,
    the PSN-01 card fails; an empty 5F34 is read the same way."""
    zero, one = _genuine(0), _genuine(1)
    del zero["5F34"], one["5F34"]
    assert _verdict(zero) is ArqcCheck.OK
    assert _verdict(one) is ArqcCheck.FAILED
    assert _verdict(zero | {"5F34": b""}) is ArqcCheck.OK


@pytest.mark.parametrize("size", [0, 1, 7, 9, 16])
def test_an_arqc_of_the_wrong_length_is_malformed(size: int) -> None:
    """9F26 must be 8 bytes: the genuine cryptogram cut or padded to ``size`` is MALFORMED,
    not FAILED."""
    tags = _genuine()
    arqc = (tags["9F26"] * 2)[:size]
    assert _verdict(tags | {"9F26": arqc}) is ArqcCheck.MALFORMED


def test_a_missing_arqc_is_malformed() -> None:
    """DE55 without 9F26 (everything else genuine) is MALFORMED."""
    tags = _genuine()
    del tags["9F26"]
    assert _verdict(tags) is ArqcCheck.MALFORMED


@pytest.mark.parametrize("atc", ["", "01", "000001", "00000001"])
def test_an_atc_of_the_wrong_length_is_malformed(atc: str) -> None:
    """9F36 must be 2 bytes: an empty, 1-, 3- or 4-byte counter is MALFORMED; a missing one
    too."""
    tags = _genuine()
    assert _verdict(tags | {"9F36": bytes.fromhex(atc)}) is ArqcCheck.MALFORMED
    del tags["9F36"]
    assert _verdict(tags) is ArqcCheck.MALFORMED


def test_an_arqc_for_an_unknown_issuer_is_malformed() -> None:
    """No issuer keys: the cryptogram cannot be checked, MALFORMED (never OK)."""
    assert HSM.verify_arqc(issuer="nobody", pan=PAN, icc=_genuine()) is ArqcCheck.MALFORMED
