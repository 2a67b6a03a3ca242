"""ISO 8583 binary: every message round-trips; pyiso8583's own bundled spec, with the three
overrides docs/protocol.md lists, reads and writes what tpesim does; the MAC covers the bytes
before it; a broken message is a format error naming the field and the byte; the Processor
answers a binary request in binary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import iso8583
import pytest

from cards import default_card_set
from switch import Processor
from switch.ledger import Ledger
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation, RequestBuilder
from terminal.pinpad import PinPad
from tests.chips import chip_purchase
from tests.iso8583_plain import plain_spec
from wire import ManualClock, default_registry
from wire.journal import EntryKind, JournalEntry
from wire.magic import magic_amounts
from wire.protocol import topics
from wire.protocol.codec import Encoding, FormatError, decode_request, decode_response, encode
from wire.protocol.messages import BatchResponse, FinancialResponse, IsoMessage
from wire.sealing import seal

BINARY = Encoding.ISO8583
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
TID = "DZAL0001"
CARDS = default_card_set()


def _builder() -> RequestBuilder:
    profile = default_registry().get(TID)
    assert profile is not None
    return RequestBuilder(profile)


def _card(card_id: str = "EDH-VALID") -> CardPresentation:
    return CardPresentation.from_card(CARDS.card(card_id), CARDS)


def _messages() -> list[IsoMessage]:
    build = _builder()
    purchase = build.purchase(_card(), 150_000, NOW, pin_block="0123456789ABCDEF" * 2,
                              ksn="FFFF9876543210E00001", icc_data="9F2608" + "11" * 8)  # fmt: skip
    journal = [JournalEntry(EntryKind.SALE, 1, 150_000), JournalEntry(EntryKind.REFUND, 2, 500)]
    common: dict[str, Any] = {"transmission_time": "1206120000", "terminal_id": TID}
    approved = FinancialResponse(**common, stan=1, response_code="00", rrn="634012000001",
                                 auth_code="A1B2C3", amount=150_000, currency="012",
                                 icc_data="910A" + "22" * 10)  # fmt: skip
    batch_answer = BatchResponse(**common, stan=9, response_code="95",
                                 differences=("S000001: not on file", "x"))  # fmt: skip
    return [
        build.sign_on(NOW, ksn="FFFF9876543210E00002"),
        purchase,
        build.reversal(purchase, NOW),
        build.completion(chip_purchase(build, _card(), 9_000, NOW, preauth=True), 8_000, NOW),
        build.batch_close(journal, NOW),
        approved,
        batch_answer,
    ]


@pytest.mark.parametrize("message", _messages(), ids=lambda m: m.mti)
def test_every_message_round_trips_and_reads_with_a_plain_spec(message: IsoMessage) -> None:
    data = encode(message, BINARY)
    assert data[:4] == message.mti.encode()
    decode = decode_response if message.mti[2] in "13" else decode_request
    assert decode(data, BINARY) == message
    plain, _ = iso8583.decode(bytearray(data), plain_spec())
    wire = json.loads(encode(message))
    for field, value in wire.items():
        if field not in {"mti", "124"}:
            assert plain[field] == value, field
    assert plain["t"] == message.mti
    rebuilt, _ = iso8583.encode(plain, plain_spec())
    assert bytes(rebuilt) == data


def test_the_mac_covers_the_bytes_before_it_in_de64_or_de128() -> None:
    security = SecurityModule(load_keys())
    pad = PinPad(security.inject_terminal_key(TID))
    build = _builder()
    keys = pad.next_transaction()
    purchase = chip_purchase(build, _card(), 1_000, NOW, ksn=keys.ksn_hex)
    reversal = build.reversal(purchase, NOW, ksn=pad.next_transaction().ksn_hex)
    for message, field in ((purchase, "64"), (reversal, "128")):
        ksn = bytes.fromhex(message.ksn or "")
        sealed = seal(message, security.transaction(ksn), BINARY)
        plain, _ = iso8583.decode(bytearray(sealed), plain_spec())
        assert set(plain) & {"64", "128"} == {field}
        mac = decode_request(sealed, BINARY).mac
        assert mac is not None and plain[field] == mac
        assert security.verify_mac(ksn=ksn, payload=sealed, mac=mac, encoding=BINARY)
        tampered = sealed.replace(b"000000001000", b"000000001001")
        assert not security.verify_mac(ksn=ksn, payload=tampered, mac=mac, encoding=BINARY)


def _purchase_bytes() -> bytes:
    return encode(chip_purchase(_builder(), _card(), 1_000, NOW), BINARY)


@pytest.mark.parametrize(
    ("mangle", "field", "offset"),
    [
        pytest.param(lambda b: b[:2], "mti", 0, id="cut-in-the-mti"),
        pytest.param(lambda b: b[:10], "bitmap", 4, id="cut-in-the-bitmap"),
        pytest.param(lambda b: b[:40], "4", 36, id="cut-in-de4"),
        pytest.param(lambda b: b[:4] + b"\x7f" + b[5:], "5", 4, id="de5-not-in-the-spec"),
        pytest.param(lambda b: b.replace(b"000000001000", b"00000000X000"), "4", 36, id="bad-de4"),
        pytest.param(lambda b: b[:12] + b"99" + b[14:], "2", 12, id="de2-too-long"),
    ],
)
def test_a_broken_message_names_the_field_and_the_byte(
    mangle: Any, field: str, offset: int
) -> None:
    data = mangle(_purchase_bytes())
    with pytest.raises(FormatError) as caught:
        decode_request(data, BINARY)
    error = caught.value
    assert (error.field, error.offset) == (field, offset), str(error)
    assert f"(at byte {offset})" in str(error)
    assert "6280" not in str(error)  # no card data in what is logged


async def test_the_processor_answers_binary_in_binary(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    async with await Ledger.open(tmp_path / "ledger.db", CARDS, clock) as ledger:
        processor = Processor(ledger=ledger, cards=CARDS, registry=default_registry(),
                              clock=clock, magic=magic_amounts())  # fmt: skip
        build = _builder()
        topic = topics.request(TID, BINARY)
        sign_on = await processor.process(topic, encode(build.sign_on(NOW), BINARY), BINARY)
        assert sign_on is not None and decode_response(sign_on.payload, BINARY).mti == "0810"
        purchase = encode(chip_purchase(build, _card(), 150_000, NOW), BINARY)
        for _ in range(2):  # the repeat replays the stored answer, in binary too
            reply = await processor.process(topic, purchase, BINARY)
            assert reply is not None and reply.response_code == "00"
            answer = decode_response(reply.payload, BINARY)
            assert isinstance(answer, FinancialResponse) and answer.rrn is not None
            assert reply.view is not None and decode_response(reply.view) == answer  # traces
        assert await ledger.available("CCP-0001001") == 15_000_000 - 150_000
        broken = await processor.process(topic, purchase[:40], BINARY)
        assert broken is not None and broken.response_code == "30"
        refusal = decode_response(broken.payload, BINARY)
        assert (refusal.mti, refusal.additional_response) == ("0210", "format error: DE4")
        assert processor.stats.format_errors == 1
