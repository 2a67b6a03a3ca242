"""ISO 8583 binary over real Mosquitto: messages built and read by pyiso8583 with a plain spec
(tests/iso8583_plain.py, not tpesim's) reach the switch on ``tpe/{tid}/req/iso8583`` or, on
MQTT 5, on the plain topic with the Content Type, and its binary answers read back; a binary
terminal and a JSON terminal run side by side, both approved, both in the ledger."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import iso8583
import pytest

from cards.catalog import default_card_set
from cards.holders import holder_pin
from switch.ledger.checker.check import check_ledger
from switch.security import SecurityModule, load_keys
from switch.service import SwitchService
from switch.startup import running_switch
from terminal.builder import CardPresentation
from tests.conftest import MosquittoProcess
from tests.iso8583_plain import plain_spec
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.wallet import Wallet
from wire.clock import SystemClock
from wire.magic import magic_amounts
from wire.protocol import topics
from wire.protocol.codec import CONTENT_TYPE_ISO8583, Encoding
from wire.registry import default_registry
from wire.transport.base import Inbound

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()


@asynccontextmanager
async def _switch(mosquitto: MosquittoProcess, tmp_path: Path) -> AsyncIterator[SwitchService]:
    async with running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=CARDS,
                              registry=REGISTRY, magic=magic_amounts()) as switch:  # fmt: skip
        yield switch


def _plain(message: dict[str, str]) -> bytes:
    data, _ = iso8583.encode(dict(message), plain_spec())
    return bytes(data)


def _read(payload: bytes) -> dict[str, Any]:
    document, _ = iso8583.decode(bytearray(payload), plain_spec())
    return document


def _by_hand(tid: str, stan: int, now: datetime) -> tuple[dict[str, str], dict[str, str]]:
    """A sign-on and a purchase of EDH-VALID as an integrator writes them, field by field: keyed
    in (DE22 012) with the card's CVV2 in DE48, as a client without a chip or DUKPT keys can."""
    card = CARDS.card("EDH-VALID")
    cvv2 = Wallet(CARDS, SecurityModule(load_keys())).plastic("EDH-VALID").cvv2
    profile = REGISTRY.get(tid)
    assert profile is not None
    moment = now.strftime("%m%d%H%M%S")
    sign_on = {"t": "0800", "7": moment, "11": f"{stan:06d}", "41": tid,
               "42": profile.merchant.mid, "70": "001"}  # fmt: skip
    purchase = {
        "t": "0200", "2": card.pan, "3": "000000", "4": "000000002500", "7": moment,
        "11": f"{stan + 1:06d}", "12": now.strftime("%H%M%S"), "13": now.strftime("%m%d"),
        "14": card.expiry_yymm, "22": "012", "23": "001", "41": tid, "42": profile.merchant.mid,
        "43": profile.merchant.name_location, "48": cvv2, "49": "012",
    }  # fmt: skip
    return sign_on, purchase


@pytest.mark.parametrize("declared_by", ["topic", "content-type"])
async def test_plain_pyiso8583_messages_are_served_in_binary(
    mosquitto: MosquittoProcess, tmp_path: Path, declared_by: str
) -> None:
    tid = "DZAL0001" if declared_by == "topic" else "DZAL0002"
    binary = Encoding.ISO8583 if declared_by == "topic" else Encoding.JSON
    request_topic, response_topic = topics.request(tid, binary), topics.response(tid, binary)
    content_type = CONTENT_TYPE_ISO8583 if declared_by == "content-type" else None
    sign_on, purchase = _by_hand(tid, 41, datetime.now(UTC))
    async with (
        _switch(mosquitto, tmp_path) as switch,
        observer(mosquitto.url, response_topic) as (client, responses),
    ):
        answers = []
        for request in (sign_on, purchase):
            await client.publish(request_topic, _plain(request), content_type=content_type)
            answer = await next_on(responses, response_topic)
            if declared_by == "content-type":
                assert answer.content_type == CONTENT_TYPE_ISO8583
            answers.append(_read(answer.payload))
        await client.publish(request_topic, _plain(purchase)[:40], content_type=content_type)
        refusal = _read((await next_on(responses, response_topic)).payload)
        ledger = switch.processor.ledger
        assert await ledger.available("CCP-0001001") == 15_000_000 - 2_500
    signed_on, approved = answers
    assert (signed_on["t"], signed_on["39"], signed_on["11"]) == ("0810", "00", "000041")
    assert (approved["t"], approved["39"], approved["11"], approved["4"]) == (
        "0210", "00", "000042", "000000002500",
    )  # fmt: skip
    assert len(approved["37"]) == 12 and len(approved["38"]) == 6
    assert (refusal["t"], refusal["39"], refusal["44"]) == ("0210", "30", "format error: DE4")


async def test_binary_and_json_terminals_side_by_side(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """A fleet of three: DZSE0001 speaks ISO 8583 (its merchant's registry entry), the others
    JSON; each buys with PIN and chip, and the trace shows each in its own encoding."""
    fleet = REGISTRY.fleet(3)
    assert [p.encoding for p in fleet] == [Encoding.JSON, Encoding.JSON, Encoding.ISO8583]
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    wallet = Wallet(CARDS, SecurityModule(load_keys()))
    pin = holder_pin("EDH-VALID")
    async with (
        _switch(mosquitto, tmp_path) as switch,
        observer(mosquitto.url, topics.TRACE_FILTER) as (_, traces),
        connected_fleet(fleet, mosquitto.url, clock=SystemClock(), timeout_s=5.0) as terminals,
    ):
        outcomes = [  # one after the other: one card, one chip, its counter in order
            await tpe.purchase(card, 1_000 * (n + 1), pin=pin, chip=wallet.chip("EDH-VALID"))
            for n, tpe in enumerate(terminals.values())
        ]
        seen: dict[str, set[str]] = {}
        while len(seen) < 3:  # the switch's answers to the purchases, as traced
            event = json.loads((await next_on(traces, None, where=_answer_0210)).payload)
            seen[event["tid"]] = {event["encoding"], event["message"]["39"]}
        db = switch.processor.ledger
        assert await db.available("CCP-0001001") == 15_000_000 - 6_000
    assert [o.verdict for o in outcomes] == ["00", "00", "00"]
    assert seen == {
        fleet[0].tid: {"json", "00"},
        fleet[1].tid: {"json", "00"},
        fleet[2].tid: {"iso8583", "00"},
    }
    assert check_ledger(tmp_path / "ledger.db").ok


def _answer_0210(message: Inbound) -> bool:
    event = json.loads(message.payload)
    return bool(
        event["hop"] == "switch" and event["event"] == "answered" and event["mti"] == "0210"
    )
