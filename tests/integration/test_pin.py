"""PIN entry end to end over real Mosquitto: PIN pad → DE52/DE53 → security module → DE39."""

from __future__ import annotations

from pathlib import Path

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch import default_registry
from switch.clock import SystemClock
from switch.ledger import check_ledger
from switch.service import running_switch
from terminal import CardPresentation
from tests.conftest import MosquittoProcess
from tpesim.fleet import connected_fleet

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()


@pytest.mark.parametrize("dukpt", ["aes", "tdes"])
async def test_right_wrong_and_third_wrong_pin(
    mosquitto: MosquittoProcess, tmp_path: Path, dukpt: str
) -> None:
    """00 with the right PIN, 55 for a wrong one, 75 at the third and the card stays blocked."""
    db = tmp_path / "ledger.db"
    profile = REGISTRY.get("DZOR0001")
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card("EDH-VALID-3"), CARDS)
    right = holder_pin("EDH-VALID-3")
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY, magic=None
        ),
        connected_fleet(
            [profile], mosquitto.url, clock=SystemClock(), timeout_s=5,
            dukpt=dukpt,  # type: ignore[arg-type]
        ) as terminals,
    ):  # fmt: skip
        tpe = terminals["DZOR0001"]
        codes = [
            (await tpe.purchase(card, 25_000, pin=pin)).verdict
            for pin in (right, "1111", "2222", "3333", right)
        ]
    assert codes == ["00", "55", "55", "75", "75"]
    report = check_ledger(db)
    assert report.ok and report.approvals == 1
