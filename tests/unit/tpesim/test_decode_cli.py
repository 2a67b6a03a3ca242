"""``tpesim decode``: a message as hex, a file or standard input, JSON or ISO 8583 binary,
explained field by field with the PAN masked and secrets hidden; a broken one named by field
and byte."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards import default_card_set
from cards.qr import MerchantQr, encode_qr
from terminal import CardPresentation, RequestBuilder
from tpesim.cli.main import main
from wire.protocol.codec import Encoding, encode
from wire.registry import default_registry

CARDS = default_card_set()
PAN = CARDS.card("EDH-VALID").pan


def _purchase(encoding: Encoding) -> bytes:
    profile = default_registry().get("DZSE0001")
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    request = RequestBuilder(profile).purchase(
        card, 150_000, datetime(2026, 12, 6, 12, tzinfo=UTC), pin_block="AB" * 16,
        ksn="FFFF9876543210E00001", icc_data="9F2608" + "11" * 8,
    )  # fmt: skip
    return encode(request, encoding)


def test_binary_hex_is_explained_with_offsets_and_nothing_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["decode", _purchase(Encoding.ISO8583).hex()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ISO 8583 binary, ")
    assert "628058******7215" in out and PAN not in out
    assert "DE4   @36    000000150000" in out and "1 500,00 DZD" in out
    assert "DE42  @92    DZ0000000000103" in out  # a merchant id is not a card number
    assert "ABABABAB" not in out and "<redacted>" in out
    assert out.rstrip().endswith("valid 0200")


def test_files_and_standard_input_json_and_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "purchase.bin"
    binary.write_bytes(_purchase(Encoding.ISO8583))
    assert main(["decode", str(binary), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["encoding"], shown["verdict"]) == ("iso8583", "valid 0200")
    assert {f["de"]: f["offset"] for f in shown["fields"]}["4"] == 36
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(_purchase(Encoding.JSON))))
    assert main(["decode", "-", "--lang", "fr"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("JSON, ") and "Montant: 1 500,00 DZD" in out and PAN not in out


def test_what_the_switch_would_refuse_and_what_cannot_be_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["decode", '{"mti": "0200", "4": "12"}']) == 1
    assert "the switch would answer 30: field 7: required field missing" in capsys.readouterr().out
    assert main(["decode", _purchase(Encoding.ISO8583)[:45].hex()]) == 2
    error = capsys.readouterr().err
    assert "field 4" in error and "(at byte 36)" in error
    assert main(["decode", "0200ABC"]) == 2
    assert "odd number of hex digits" in capsys.readouterr().err


def test_a_qr_payload_is_explained_and_a_damaged_one_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = MerchantQr(mid="DZ0000000000101", tid="DZAL0001", name="Superette El Baraka",
                      city="Alger Centre", mcc="5411", currency="012", country="DZ",
                      amount=150_000, reference="DZAL0001-000042")  # fmt: skip
    payload = encode_qr(code)
    assert main(["decode", payload]) == 0
    out = capsys.readouterr().out
    assert "dynamic" in out and "1 500,00 DZD" in out and "terminal DZAL0001" in out
    assert main(["decode", payload.replace("Baraka", "Barakx")]) == 2
    assert "CRC does not match" in capsys.readouterr().err
