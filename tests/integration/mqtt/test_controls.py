"""Fault commands on sim/control over real Mosquitto: the switch restarts when told (offline,
then online again, and serving), and a fleet's terminals are unplugged, plugged back and run
out of paper when told — what the dashboard's fault buttons publish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from terminal import CardPresentation
from terminal.control import obey_controls
from terminal.shell.tpe import Terminal
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.wallet import Wallet
from wire import default_registry
from wire.clock import SystemClock
from wire.protocol import topics
from wire.tasks import wait_ended
from wire.transport.base import Inbound

pytestmark = pytest.mark.integration

CARDS = default_card_set()
TID = "DZAL0025"


async def test_the_switch_restarts_on_command_and_serves_again(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    security = SecurityModule(load_keys())
    profile = default_registry().get(TID)
    assert profile is not None
    wallet = Wallet(CARDS, security)
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    async with (
        running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=CARDS,
                       registry=default_registry(), security=security) as switch,
        observer(mosquitto.url, topics.SWITCH_STATUS) as (control, inbox),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5,
                        key_injection=security) as fleet,
    ):  # fmt: skip
        await next_on(inbox, topics.SWITCH_STATUS, where=lambda m: m.payload == b"online")
        sessions = switch.sessions
        await control.publish(topics.SWITCH_CONTROL, b"restart:0.5", qos=1)
        await next_on(inbox, topics.SWITCH_STATUS, where=lambda m: m.payload == b"offline")
        await next_on(inbox, topics.SWITCH_STATUS, where=lambda m: m.payload == b"online")
        await switch.serving_after(sessions)
        sale = await fleet[TID].purchase(card, 10_000, pin=holder_pin("EDH-VALID"),
                                         chip=wallet.chip("EDH-VALID"))  # fmt: skip
        assert sale.approved
        await control.publish(topics.SWITCH_CONTROL, b"reboot", qos=1)  # not a command: ignored
        await fleet[TID].quiesce()
        assert switch.sessions == sessions + 1 and switch.connected.is_set()


def _is(payload: bytes) -> Callable[[Inbound], bool]:
    return lambda message: message.payload == payload


async def test_terminals_obey_unplug_plug_and_paper_commands(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    profile = default_registry().get(TID)
    assert profile is not None
    status = topics.status(TID)
    signed_on: dict[str, Terminal] = {}
    async with (
        running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=CARDS,
                       registry=default_registry()),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=30,
                        signed_on=signed_on) as fleet,
        observer(mosquitto.url, status) as (control, inbox),
    ):  # fmt: skip
        assert signed_on == fleet  # each handed over once signed on (tpesim terminal's controls)
        obeying = asyncio.create_task(obey_controls(signed_on, mosquitto.url))
        try:
            await next_on(inbox, status, where=_is(b"online"))
            for command, seen in [("paper-out", b"degraded:paper-out"), ("paper-in", b"online"),
                                  ("unplug", b"offline"), ("plug", b"online")]:  # fmt: skip
                # Repeated until obeyed: the control client may still be subscribing.
                async with asyncio.timeout(10):
                    while True:
                        await control.publish(topics.terminal_control(TID), command.encode())
                        with contextlib.suppress(TimeoutError):
                            await next_on(inbox, status, 1, where=_is(seen))
                            break
            assert fleet[TID].connected and fleet[TID].paper
        finally:
            await wait_ended(obeying, cancel=True)
