"""inspect_purchase (switch.security.checks) at its edges: which verdicts a purchase gets for
each entry mode, and the exact track 2 layout the CVV is read from (PAN=YYMM ‖ service code ‖
PVKI ‖ PVV ‖ CVV ‖ discretionary data), with malformed and boundary inputs.

Card codes come from psec (an independent CVV oracle), not from tpesim's own CVV code.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import pytest

from cards import default_card_set
from cards.catalog import CardSet
from cards.chip import Chip
from cards.crypto import tlv
from cards.holders import holder_pin
from switch.security import ArqcCheck, CvvCheck, PinCheck, SecurityModule, load_keys
from switch.security.checks import SecurityFacts, inspect_purchase
from terminal import CardPresentation, RequestBuilder
from terminal.pinpad import PinPad
from wire import default_registry
from wire.protocol.messages import FinancialRequest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from psec import cvv as psec_cvv

KEYS = load_keys()
HSM = SecurityModule(KEYS)
CARDS = default_card_set()
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
CARD = CARDS.card("EDH-VALID")  # PAN 6280581110007215, expiry 2906, service code 201, PVV 6549
PAN = CARD.pan


def _psec_cvv(service_code: str) -> str:
    cvk = KEYS.issuer("algerie-poste").cvk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: str = psec_cvv.generate_cvv(cvk, PAN, "2906", service_code)
    return value


CVV, CVV2 = _psec_cvv("201"), _psec_cvv("000")
TRACK_DATA = "2906" + "201" + "1" + "6549" + CVV
"""After the separator: YYMM 2906, service code 201, PVKI 1, PVV 6549, CVV: 15 digits."""


def test_the_oracle_values() -> None:
    """EDH-VALID's CVV and CVV2 per psec, pinned, and the 15-digit minimum track data."""
    assert (CVV, CVV2) == ("664", "807")
    assert TRACK_DATA == "290620116549664" and len(TRACK_DATA) == 15


def _request(entry_mode: str, card_id: str = "EDH-VALID", **fields: Any) -> FinancialRequest:
    profile = default_registry().get("DZAL0001")
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card(card_id), CARDS)
    return RequestBuilder(profile).purchase(card, 5_000, NOW, entry_mode=entry_mode, **fields)


def _facts(entry_mode: str, cards: CardSet = CARDS, **fields: Any) -> SecurityFacts:
    return inspect_purchase(HSM, cards, _request(entry_mode, **fields))


def _cvv(entry_mode: str, **fields: Any) -> CvvCheck | None:
    return _facts(entry_mode, **fields).cvv


# --- cards and PINs --------------------------------------------------------------------------


def test_a_card_not_on_file_gets_no_verdict_at_all() -> None:
    """A PAN the issuer has no record of: no verdict on PIN, cryptogram or track."""
    track2 = f"{CARDS.card('EDH-UNKNOWN').pan}={TRACK_DATA}"
    request = _request("021", "EDH-UNKNOWN", pin_block="00" * 16, ksn="00" * 12, track2=track2)
    facts = inspect_purchase(HSM, CARDS, request)
    assert facts == SecurityFacts()


def test_a_pin_block_without_ksn_is_unreadable() -> None:
    """DE52 without DE53: UNREADABLE, and nothing else said of a chip read without DE55."""
    facts = _facts("051", pin_block="00" * 16)
    assert facts == SecurityFacts(pin=PinCheck.UNREADABLE, arqc=ArqcCheck.MISSING)


def test_a_pin_block_for_a_card_without_pvv_is_unreadable() -> None:
    """DE52 and DE53 for a card whose record has no PVV: UNREADABLE (the right PIN under the
    terminal's key verifies for the card with its PVV)."""
    keys = PinPad(HSM.inject_terminal_key("DZAL0001")).next_transaction()
    block = keys.encrypt_pin(holder_pin("EDH-VALID"), PAN)
    assert _facts("051", pin_block=block, ksn=keys.ksn_hex).pin is PinCheck.OK
    without = tuple(c.model_copy(update={"pvv": None}) if c.pan == PAN else c for c in CARDS.cards)
    cards = CardSet(CARDS.products, without, CARDS.accounts)
    assert _facts("051", cards, pin_block=block, ksn=keys.ksn_hex).pin is PinCheck.UNREADABLE


# --- the cryptogram --------------------------------------------------------------------------


def _icc(**changes: bytes) -> str:
    chip = Chip(PAN, 1, HSM.personalize_chip("algerie-poste", PAN, 1))
    profile = default_registry().get("DZAL0001")
    assert profile is not None
    data = RequestBuilder(profile).terminal_data(5_000, NOW, b"\x00\x00\x00\x2a")
    return tlv.encode(chip.generate_arqc(data) | changes).hex().upper()


def test_a_failed_arqc_gives_no_counter_and_no_arpc() -> None:
    """An ARQC that does not verify: FAILED, with no ATC and no tag 91 for the answer."""
    facts = _facts("051", icc_data=_icc(**{"9F26": bytes(8)}))
    assert facts == SecurityFacts(arqc=ArqcCheck.FAILED)
    assert facts.response_icc("00") is None


def test_malformed_chip_data_gives_no_counter_and_no_arpc() -> None:
    """DE55 that is not TLV, or lacks the ATC: MALFORMED, nothing more."""
    assert _facts("051", icc_data="9F3602") == SecurityFacts(arqc=ArqcCheck.MALFORMED)
    tags = tlv.decode_dict(bytes.fromhex(_icc()))
    del tags["9F36"]
    bare = tlv.encode(tags).hex().upper()
    assert _facts("071", icc_data=bare) == SecurityFacts(arqc=ArqcCheck.MALFORMED)


def test_a_genuine_arqc_gives_its_counter_and_an_arpc() -> None:
    """A verified ARQC: OK, the chip's ATC, and tag 91 ending in the response code."""
    facts = _facts("051", icc_data=_icc(**{"9F36": b"\x01\x02"}))
    assert facts.arqc is ArqcCheck.FAILED  # the ATC is covered by the cryptogram
    facts = _facts("071", icc_data=_icc())
    assert (facts.arqc, facts.atc, facts.cvv, facts.pin) == (ArqcCheck.OK, 1, None, None)
    answer = facts.response_icc("51")
    assert answer is not None and answer.startswith("910A") and answer.endswith("3531")


# --- magstripe: CVV from track 2 -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["021", "022", "801", "901"])
def test_each_magstripe_mode_checks_the_track_cvv(mode: str) -> None:
    """DE22 02x (stripe), 80x (chip fallback), 90x (full track): the CVV in DE35 decides."""
    assert _cvv(mode, track2=f"{PAN}={TRACK_DATA}00") is CvvCheck.OK
    assert _cvv(mode, track2=f"{PAN}D{TRACK_DATA}00") is CvvCheck.OK
    wrong = f"{PAN}={TRACK_DATA[:-1]}{(int(CVV[2]) + 1) % 10}00"
    assert _cvv(mode, track2=wrong) is CvvCheck.WRONG_CVV
    assert _cvv(mode) is CvvCheck.TRACK_MISSING
    assert _cvv(mode, card_security_code=CVV2) is CvvCheck.TRACK_MISSING


def test_track_data_of_exactly_fifteen_digits_is_read() -> None:
    """The minimum: YYMM, service code, PVKI, PVV and CVV with nothing after is OK; one digit
    less is a mismatch (the track cannot be this card's)."""
    assert _cvv("021", track2=f"{PAN}={TRACK_DATA}") is CvvCheck.OK
    assert _cvv("021", track2=f"{PAN}={TRACK_DATA[:14]}") is CvvCheck.TRACK_MISMATCH
    assert _cvv("021", track2=f"{PAN}=2906201") is CvvCheck.TRACK_MISMATCH


def test_discretionary_data_after_the_cvv_is_ignored() -> None:
    """Digits after the CVV (up to the 20 DE35 allows) change nothing."""
    for tail in ("0", "00", "12345"):
        assert _cvv("021", track2=f"{PAN}={TRACK_DATA}{tail}") is CvvCheck.OK


def test_the_cvv_is_read_at_digits_13_to_15() -> None:
    """The CVV sits after YYMM, service code, PVKI and PVV: any PVKI/PVV digits are skipped,
    and a CVV shifted by one position is wrong."""
    assert _cvv("021", track2=f"{PAN}=2906201" + "9" + "0000" + f"{CVV}00") is CvvCheck.OK
    assert _cvv("021", track2=f"{PAN}=2906201" + "1" + "654" + f"{CVV}000") is CvvCheck.WRONG_CVV
    assert _cvv("021", track2=f"{PAN}=2906201" + "1" + "65490" + f"{CVV}0") is CvvCheck.WRONG_CVV


def test_the_service_code_is_read_at_digits_5_to_7() -> None:
    """The CVV covers the service code read after YYMM: another service code on the track
    (101, 200, or the CVV2's 000) makes the card's CVV wrong."""
    for service_code in ("101", "200", "000"):
        track = f"{PAN}=2906{service_code}16549{CVV}00"
        assert _cvv("021", track2=track) is CvvCheck.WRONG_CVV
    cvv101 = _psec_cvv("101")
    assert _cvv("021", track2=f"{PAN}=2906101" + f"16549{cvv101}00") is CvvCheck.OK


def test_a_track_of_another_card_is_a_mismatch() -> None:
    """DE35 whose PAN is not DE2's: TRACK_MISMATCH, even with valid data after it."""
    other = CARDS.card("EDH-VALID-2").pan
    assert _cvv("021", track2=f"{other}={TRACK_DATA}00") is CvvCheck.TRACK_MISMATCH
    assert _cvv("021", track2=f"{PAN[:-1]}={TRACK_DATA}00") is CvvCheck.TRACK_MISMATCH


# --- keyed and e-commerce: CVV2 from DE48 ----------------------------------------------------


@pytest.mark.parametrize("mode", ["012", "011", "812", "810"])
def test_keyed_and_ecommerce_entries_check_the_cvv2(mode: str) -> None:
    """DE22 01x (keyed) and 81x (e-commerce): the CVV2 in DE48 decides; the track is not
    read."""
    assert _cvv(mode, card_security_code=CVV2) is CvvCheck.OK
    assert _cvv(mode, card_security_code=CVV) is CvvCheck.WRONG_CVV2
    assert _cvv(mode) is CvvCheck.CVV2_MISSING
    assert _cvv(mode, track2=f"{PAN}={TRACK_DATA}00") is CvvCheck.CVV2_MISSING


@pytest.mark.parametrize("mode", ["051", "071", "000", "101"])
def test_other_entries_have_no_card_code_verdict(mode: str) -> None:
    """Chip reads and modes tpesim does not name: no CVV verdict, whatever DE35/DE48 hold."""
    facts = _facts(mode, track2=f"{PAN}={TRACK_DATA}00", card_security_code=CVV2)
    assert facts.cvv is None
