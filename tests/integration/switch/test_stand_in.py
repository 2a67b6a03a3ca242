"""An issuer taken down over MQTT (``sim/control/issuer/...``) is stood in for, and trued up
when it is brought back; the switch says what it applied on the retained issuer status."""

from __future__ import annotations

from pathlib import Path

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch.ledger import check_ledger
from switch.startup import running_switch
from terminal import CardPresentation
from tests.chips import chip_of
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.scenario.trace import available_balances
from wire import default_registry
from wire.clock import SystemClock
from wire.protocol import topics

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()
ISSUER = "algerie-poste"


async def test_issuer_down_over_mqtt_then_up_trues_up(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    profile = REGISTRY.get("DZAL0010")
    assert profile is not None
    db = tmp_path / "ledger.db"
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    status = topics.issuer_status(ISSUER)
    async with (
        running_switch(broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
        observer(mosquitto.url, "sim/issuer/+/status") as (operator, inbox),
    ):
        tpe = fleet["DZAL0010"]
        await operator.publish(topics.issuer_control(ISSUER), b"sideways")  # ignored
        await operator.publish(topics.issuer_control(ISSUER), b"down")
        assert (await next_on(inbox, status)).payload == b"down"
        stood_in = await tpe.purchase(card, 25_000, pin=holder_pin("EDH-VALID"), chip=chip_of(card))
        assert stood_in.approved and (stood_in.auth_code or "").startswith("S")
        assert available_balances(db)["CCP-0001001"][0] == 15_000_000  # not charged yet
        await operator.publish(topics.issuer_control(ISSUER), b"up")
        assert (await next_on(inbox, status)).payload == b"up"
        assert available_balances(db)["CCP-0001001"][0] == 15_000_000 - 25_000
        normal = await tpe.purchase(card, 5_000, pin=holder_pin("EDH-VALID"), chip=chip_of(card))
        assert normal.approved and not (normal.auth_code or "").startswith("S")
    report = check_ledger(db)
    assert report.ok, report.render()
