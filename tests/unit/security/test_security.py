"""The simulated HSM: key injection, PVVs, PIN verification under AES and TDES DUKPT."""

from __future__ import annotations

from pathlib import Path

import pytest

from cards import default_card_set
from cards.chip import Chip, TerminalData, session_key_r
from cards.crypto import emv
from cards.holders import issued_pin
from cards.masking import redact_wire_text
from switch.security import ArqcCheck, KeyStoreError, PinCheck, SecurityModule, load_keys
from terminal.pinpad import PinPad
from wire.sealing import DukptFlavour

HSM = SecurityModule(load_keys())
CARDS = default_card_set()
PAN = "6280581110007215"


def test_every_card_pvv_matches_its_holders_pin() -> None:
    """Issuer data (PVV) and cardholder data (PIN) agree for the whole shipped set."""
    for card in CARDS.cards:
        issuer = CARDS.products[card.product].issuer
        assert card.pvv == HSM.pvv(issuer, card.pan, issued_pin(card.id)), card.id


def test_key_injection_is_per_terminal_and_hides_keys() -> None:
    """Each TID gets its own initial key; reprs never show key bytes."""
    first, second = HSM.inject_terminal_key("DZAL0001"), HSM.inject_terminal_key("DZAL0002")
    assert first.initial_key != second.initial_key
    assert first.initial_ksn[:4] == bytes.fromhex("12345678")  # AES BDK id
    assert first.initial_key.hex() not in repr(first).lower()
    keys = load_keys()
    assert "0123456789" not in repr(keys.issuers["algerie-poste"]).upper()
    assert "FEDCBA" not in repr(keys.bdks["12345678"]).upper()


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_pin_verification(flavour: DukptFlavour) -> None:
    """Right PIN → OK, wrong → WRONG, tampered block or KSN → UNREADABLE."""
    pad = PinPad(HSM.inject_terminal_key("DZAL0001", flavour))
    pvv = HSM.pvv("algerie-poste", PAN, "1234")

    def check(block: str, ksn: bytes) -> PinCheck:
        return HSM.verify_pin(issuer="algerie-poste", pan=PAN, pvv=pvv,
                              pin_block=bytes.fromhex(block), ksn=ksn)  # fmt: skip

    first = pad.next_transaction()
    assert check(first.encrypt_pin("1234", PAN), first.ksn) is PinCheck.OK
    second = pad.next_transaction()
    assert check(second.encrypt_pin("4321", PAN), second.ksn) is PinCheck.WRONG
    third = pad.next_transaction()
    block = third.encrypt_pin("1234", PAN)
    assert third.ksn != first.ksn and block != first.encrypt_pin("1234", PAN)
    flipped = f"{int(block[0], 16) ^ 1:X}" + block[1:]
    assert check(flipped, third.ksn) is PinCheck.UNREADABLE
    assert check(block, first.ksn) is PinCheck.UNREADABLE
    assert check(block, bytes(12)) is PinCheck.UNREADABLE  # unknown BDK


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_request_mac(flavour: DukptFlavour) -> None:
    """The HSM verifies a terminal's MAC; a flipped bit, an altered field or another KSN fail."""
    pad = PinPad(HSM.inject_terminal_key("DZAL0001", flavour))
    keys = pad.next_transaction()
    payload = b'{"mti":"0800","7":"1123140322","11":"000001","41":"DZAL0001","70":"001",'
    payload += b'"53":"' + keys.ksn_hex.encode() + b'","64":"0000000000000000"}'
    mac = keys.mac(payload)
    sealed = payload.replace(b"0000000000000000", mac.encode())
    assert len(mac) == 16
    assert HSM.verify_mac(ksn=keys.ksn, payload=sealed, mac=mac)
    flipped = f"{int(mac[-1], 16) ^ 1:X}"
    assert not HSM.verify_mac(ksn=keys.ksn, payload=sealed, mac=mac[:-1] + flipped)
    altered = sealed.replace(b'"11":"000001"', b'"11":"000002"')
    assert not HSM.verify_mac(ksn=keys.ksn, payload=altered, mac=mac)
    other = pad.next_transaction()
    assert not HSM.verify_mac(ksn=other.ksn, payload=sealed, mac=mac)
    assert not HSM.verify_mac(ksn=bytes(12), payload=sealed, mac=mac)


def test_key_file_errors_name_the_entry(tmp_path: Path) -> None:
    """A bad key file is refused naming the entry, never printing a key."""
    bad = tmp_path / "keys.yaml"
    bad.write_text(
        "bdks: [{id: X1, algorithm: aes128, key: 'ABCD'}]\n"
        "terminal_bdk: {aes: X1, tdes: X1}\nissuers: []\n",
        encoding="utf-8",
    )
    with pytest.raises(KeyStoreError, match="bdk X1: key must be 16 bytes"):
        load_keys(bad)


def test_wire_text_redaction() -> None:
    """Logged excerpts lose PIN blocks, track 2 and ICC data, and PANs are masked."""
    text = '{"2":"6280581110007215","52":"28B41FDDD29B743E","35":"6280581110007215=2906","55":"9F'
    safe = redact_wire_text(text)
    assert "28B41FDD" not in safe and "6280581110007215" not in safe and "9F" not in safe


def _chip_tags(pan: str = PAN, amount: int = 150_000) -> tuple[Chip, dict[str, bytes]]:
    chip = Chip(pan, 1, HSM.personalize_chip("algerie-poste", pan, 1))
    return chip, chip.generate_arqc(TerminalData(amount, "012", "012", "261123", b"abcd"))


def test_arqc_verification() -> None:
    """A genuine ARQC verifies; a flipped bit, changed data, another card or a missing tag
    do not."""
    chip, tags = _chip_tags()
    assert tags["9F36"] == b"\x00\x01" and chip.atc == 1
    assert HSM.verify_arqc(issuer="algerie-poste", pan=PAN, icc=tags) is ArqcCheck.OK
    flipped = tags | {"9F26": bytes([tags["9F26"][0] ^ 0x01]) + tags["9F26"][1:]}
    assert HSM.verify_arqc(issuer="algerie-poste", pan=PAN, icc=flipped) is ArqcCheck.FAILED
    more = tags | {"9F02": bytes.fromhex("000000150001")}
    assert HSM.verify_arqc(issuer="algerie-poste", pan=PAN, icc=more) is ArqcCheck.FAILED
    _, other = _chip_tags("6280581110008007")
    assert HSM.verify_arqc(issuer="algerie-poste", pan=PAN, icc=other) is ArqcCheck.FAILED
    missing = {tag: value for tag, value in tags.items() if tag != "9F37"}
    assert HSM.verify_arqc(issuer="algerie-poste", pan=PAN, icc=missing) is ArqcCheck.MALFORMED


def test_arpc_method_1_carries_the_response_code() -> None:
    """Tag 91 = ARPC (method 1 under the card's session key) ‖ ARC in ASCII."""
    chip, tags = _chip_tags()
    tag91 = HSM.arpc(issuer="algerie-poste", pan=PAN, icc=tags, response_code="51")
    session_key = emv.common_session_key(chip.master_key, session_key_r(tags["9F36"]))
    assert tag91 == emv.arpc_method_1(session_key, tags["9F26"], b"51") + b"51"
