"""Trace events on sim/trace/{tid}: every hop of a sale, in order, with what the ledger did, and
nothing secret in them (PAN masked, PIN block, track 2 and chip data redacted)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from terminal import CardPresentation
from tests.conftest import MosquittoProcess
from tests.deadlines import HandDeadlines
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.wallet import Wallet
from wire import default_registry
from wire.clock import SystemClock
from wire.protocol import topics

pytestmark = pytest.mark.integration

CARDS = default_card_set()
TID = "DZAL0024"


async def _ladder(inbox: asyncio.Queue[Any], until: tuple[str, str, str]) -> list[dict[str, Any]]:
    """Trace events of ``TID`` up to the one with (hop, event, mti) ``until``."""
    events: list[dict[str, Any]] = []
    while True:
        message = await next_on(inbox, topics.trace(TID))
        event = json.loads(message.payload)
        events.append(event)
        if (event["hop"], event["event"], event["mti"]) == until:
            return sorted(events, key=lambda e: e["at"])  # each hop's own time


async def test_a_sale_and_a_timeout_hop_by_hop(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    security = SecurityModule(load_keys())
    profile = default_registry().get(TID)
    assert profile is not None
    wallet = Wallet(CARDS, security)
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    async with (
        running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=CARDS,
                       registry=default_registry(), security=security),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=30.0,
                        key_injection=security) as fleet,
        observer(mosquitto.url, topics.trace(TID)) as (_, inbox),
    ):  # fmt: skip
        tpe = fleet[TID]
        deadlines = HandDeadlines()  # no answer is late on a loaded machine; 7799's is withheld
        tpe.channel.deadline = deadlines
        sale = await tpe.purchase(card, 150_000, pin=holder_pin("EDH-VALID"),
                                  chip=wallet.chip("EDH-VALID"))  # fmt: skip
        assert sale.approved
        ladder = await _ladder(inbox, ("terminal", "received", "0210"))
        losing = asyncio.create_task(tpe.purchase(card, 7_799, pin=holder_pin("EDH-VALID"),
                                                  chip=wallet.chip("EDH-VALID")))  # fmt: skip
        withheld = await _ladder(inbox, ("switch", "lost", "0210"))
        assert await deadlines.pass_waiting() == 1  # the terminal gives up on its 0200 now
        lost = await losing
        assert lost.reversal == "acknowledged"
        after = await _ladder(inbox, ("terminal", "received", "0430"))
        timeout = sorted(withheld + after, key=lambda e: e["at"])  # two publishers: by time
    steps = [(e["hop"], e["event"], e["mti"], e["response_code"]) for e in ladder]
    assert steps == [
        ("terminal", "sent", "0200", None),
        ("switch", "received", "0200", None),
        ("switch", "answered", "0210", "00"),
        ("terminal", "received", "0210", "00"),
    ]
    assert ladder[2]["notes"] == ["purchase pending 1 500,00 DZD: CCP-0001001 → merchant:"
                                  "DZ0000000000101:DZD"]  # fmt: skip
    request = ladder[0]["message"]
    assert request["2"] == "628058******7215"
    assert request["52"] == request["55"] == "<redacted>"
    text = json.dumps([ladder, timeout])
    assert "6280581110007215" not in text
    hops = [(e["hop"], e["event"], e["mti"]) for e in timeout]
    assert hops == [
        ("terminal", "sent", "0200"),
        ("switch", "received", "0200"),
        ("switch", "lost", "0210"),
        ("terminal", "timeout", "0200"),
        ("terminal", "sent", "0420"),
        ("switch", "received", "0420"),
        ("switch", "answered", "0430"),
        ("terminal", "received", "0430"),
    ]
    assert any("void" in note for note in timeout[6]["notes"])
