"""Every message kind a terminal signs, in JSON and in ISO 8583 binary, with its MAC (DE64, or
DE128 in binary with a secondary bitmap) tampered, and with the last field before the MAC
tampered: the switch answers 63 and moves nothing. Untampered, the same message is not 63.

The MAC check comes before anything else the switch does with a message, so the kinds that
refer to an earlier one (reversals, completions) need no earlier one to be refused.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import datetime

import pytest

from cards import default_card_set
from switch import Processor
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation, RequestBuilder
from terminal.pinpad import PinPad
from tests.chips import chip_purchase
from wire import default_registry
from wire.protocol import FinancialRequest, IsoMessage, decode_request, decode_response, topics
from wire.protocol.codec import Encoding
from wire.protocol.errors import FormatError
from wire.protocol.iso8583 import MAC_BYTES
from wire.sealing import seal

CARDS = default_card_set()
TID = "DZAL0001"
ACCOUNT = CARDS.card("EDH-VALID").account
PAD = PinPad(SecurityModule(load_keys()).inject_terminal_key(TID, "tdes"))

Build = Callable[[RequestBuilder, datetime, str], IsoMessage]


def _card() -> CardPresentation:
    return CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)


def _sale(build: RequestBuilder, now: datetime, ksn: str | None) -> FinancialRequest:
    return chip_purchase(build, _card(), 5_000, now, ksn=ksn)


KINDS: dict[str, Build] = {
    "0800 sign-on": lambda build, now, ksn: build.sign_on(now, ksn),
    "0800 echo": lambda build, now, ksn: build.echo(now, ksn),
    "0200 purchase": _sale,
    "0200 refund": lambda build, now, ksn: build.purchase(
        _card(), 5_000, now, ksn=ksn, processing_code="200000", entry_mode="012"),
    "0200 balance inquiry": lambda build, now, ksn: build.purchase(
        _card(), 0, now, ksn=ksn, processing_code="310000", entry_mode="012"),
    "0100 pre-authorization": lambda build, now, ksn: chip_purchase(
        build, _card(), 5_000, now, ksn=ksn, preauth=True),
    "0220 completion": lambda build, now, ksn: build.completion(
        chip_purchase(build, _card(), 5_000, now, preauth=True), 4_000, now, ksn),
    "0400 reversal": lambda build, now, ksn: build.reversal(_sale(build, now, None), now, ksn),
    "0420 reversal advice": lambda build, now, ksn: build.reversal_advice(
        _sale(build, now, None), now, ksn),
    "0421 repeated advice": lambda build, now, ksn: build.reversal_advice(
        _sale(build, now, None), now, ksn).model_copy(update={"mti": "0421"}),
    "0500 batch close": lambda build, now, ksn: build.batch_close([], now, ksn),
}  # fmt: skip


def _tamper_mac(payload: bytes, encoding: Encoding) -> bytes:
    if encoding is Encoding.ISO8583:
        return payload[:-1] + bytes([payload[-1] ^ 0x01])
    message = json.loads(payload)
    message["64"] = message["64"][:-1] + ("0" if message["64"][-1] != "0" else "1")
    return json.dumps(message).encode()


def _tamper_last_field(payload: bytes, encoding: Encoding) -> bytes:
    """Change the last field before the MAC, keeping the message well formed: in binary its
    last byte (or the one before, for a code like DE70's) to the first other value that still
    decodes; in JSON the last digit of the
    highest-numbered field below 64."""
    if encoding is Encoding.ISO8583:
        for at in range(len(payload) - MAC_BYTES - 1, len(payload) - MAC_BYTES - 4, -1):
            for flip in range(1, 256):
                changed = payload[:at] + bytes([payload[at] ^ flip]) + payload[at + 1 :]
                with contextlib.suppress(FormatError):
                    decode_request(changed, encoding)
                    return changed
        raise AssertionError("no other value of the last three bytes decodes")
    message = json.loads(payload)
    field = max((key for key in message if key.isdigit() and int(key) < 64), key=int)
    value = message[field]
    digit = next(i for i in range(len(value) - 1, -1, -1) if value[i].isdigit())
    message[field] = value[:digit] + str(int(value[digit]) ^ 1) + value[digit + 1 :]
    return json.dumps(message).encode()


async def _code(processor: Processor, payload: bytes, encoding: Encoding) -> str:
    reply = await processor.process(topics.request(TID), payload, encoding)
    assert reply is not None
    return decode_response(reply.payload, encoding).response_code


async def _check(
    processor: Processor, kind: str, encoding: Encoding, tamper: Callable[[bytes, Encoding], bytes]
) -> None:
    profile = default_registry().get(TID)
    assert profile is not None
    build = RequestBuilder(profile)
    now = processor.clock.now()
    keys = PAD.next_transaction()
    message = KINDS[kind](build, now, keys.ksn_hex)
    payload = seal(message, keys, encoding)
    before = await processor.ledger.available(ACCOUNT)
    assert await _code(processor, tamper(payload, encoding), encoding) == "63"
    assert processor.stats.attacks == {"mac": 1}
    assert await processor.ledger.available(ACCOUNT) == before
    assert await _code(processor, payload, encoding) != "63"


@pytest.mark.parametrize("encoding", [Encoding.JSON, Encoding.ISO8583], ids=["json", "binary"])
@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_with_a_tampered_mac_is_answered_63(
    processor: Processor, kind: str, encoding: Encoding
) -> None:
    await _check(processor, kind, encoding, _tamper_mac)


@pytest.mark.parametrize("encoding", [Encoding.JSON, Encoding.ISO8583], ids=["json", "binary"])
@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_with_its_last_field_tampered_is_answered_63(
    processor: Processor, kind: str, encoding: Encoding
) -> None:
    await _check(processor, kind, encoding, _tamper_last_field)
