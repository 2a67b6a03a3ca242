"""PIN entry end to end over real Mosquitto: PIN pad → DE52/DE53 → security module → DE39."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cards import default_card_set
from cards.chip import Chip, Plastic, TerminalData
from cards.holders import holder_pin
from switch.ledger import check_ledger
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from terminal import CardPresentation, TerminalError
from tests.chips import chip_of
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.wallet import Wallet
from wire import default_registry
from wire.clock import SystemClock
from wire.protocol import topics

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
            (await tpe.purchase(card, 25_000, pin=pin, chip=chip_of(card))).verdict
            for pin in (right, "1111", "2222", "3333", right)
        ]
    assert codes == ["00", "55", "55", "75", "75"]
    report = check_ledger(db)
    assert report.ok and report.approvals == 1


async def test_tampered_request_is_rejected_63(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    """A terminal's request captured on the broker and replayed with a changed amount → 63."""
    db = tmp_path / "ledger.db"
    profile = REGISTRY.get("DZAL0001")
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY, magic=None
        ),
        observer(mosquitto.url, topics.request("DZAL0001"), topics.response("DZAL0001")) as (
            client,
            inbox,
        ),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
    ):
        outcome = await fleet["DZAL0001"].purchase(
            card, 12_300, pin=holder_pin("EDH-VALID"), chip=chip_of(card)
        )
        assert outcome.approved
        captured = await next_on(
            inbox, topics.request("DZAL0001"), where=lambda m: b'"mti":"0200"' in m.payload
        )
        # Same MAC, same key: the MAC check comes before duplicate detection.
        forged = captured.payload.replace(b'"000000012300"', b'"000000000100"')
        await client.publish(topics.request("DZAL0001"), forged)
        answer = await next_on(
            inbox, topics.response("DZAL0001"), where=lambda m: b'"39":"00"' not in m.payload
        )
    reply = json.loads(answer.payload)
    assert reply["39"] == "63"
    report = check_ledger(db)
    assert report.ok and report.approvals == 1


class FlippingChip(Chip):
    """A chip whose cryptogram gets one bit flipped on the way (tampering or a bad card)."""

    def generate_arqc(self, data: TerminalData) -> dict[str, bytes]:
        tags = super().generate_arqc(data)
        return tags | {"9F26": bytes([tags["9F26"][0] ^ 0x01]) + tags["9F26"][1:]}


async def test_flipped_arqc_and_replayed_atc_are_declined(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Chip + PIN purchases over Mosquitto: genuine → 00 with tag 91; flipped ARQC bit → 05;
    a cloned card replaying an old ATC → 05; the ledger holds only the genuine approvals."""
    db = tmp_path / "ledger.db"
    security = SecurityModule(load_keys())
    wallet = Wallet(CARDS, security)
    profile = REGISTRY.get("DZSE0001")
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card("CIB-VALID-2"), CARDS)
    pin = holder_pin("CIB-VALID-2")
    chip = wallet.chip("CIB-VALID-2")
    bad = FlippingChip(chip.pan, chip.psn, chip.master_key, atc=100)
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY, magic=None
        ),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
    ):
        tpe = fleet["DZSE0001"]
        genuine = await tpe.purchase(card, 30_000, pin=pin, chip=chip)
        flipped = await tpe.purchase(card, 30_000, pin=pin, chip=bad)
        chip.atc -= 1  # a clone that replays the counter of the genuine purchase
        replayed = await tpe.purchase(card, 30_000, pin=pin, chip=chip)
        again = await tpe.purchase(card, 30_000, pin=pin, chip=chip)  # back in step
    assert genuine.verdict == "00"
    assert (flipped.verdict, replayed.verdict, again.verdict) == ("05", "05", "00")
    report = check_ledger(db)
    assert report.ok and report.approvals == 2


async def test_magstripe_cvv_and_keyed_cvv2(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    """Magstripe with the track's CVV → 00; a tampered track CVV → 05; keyed with the printed
    CVV2 → 00; EDH-WRONG-CVV2 keyed → 05 (chip → 00)."""
    db = tmp_path / "ledger.db"
    wallet = Wallet(CARDS, SecurityModule(load_keys()))
    profile = REGISTRY.get("DZAN0001")
    assert profile is not None

    def presented(card_id: str) -> CardPresentation:
        return CardPresentation.from_card(CARDS.card(card_id), CARDS)

    good = wallet.plastic("EDH-VALID-2")
    cvv_at = good.track2.index("=") + 13  # YYMM, service code, PVKI, PVV, then the CVV
    bad_cvv = f"{(int(good.track2[cvv_at]) + 1) % 10}"
    tampered = Plastic(good.track2[:cvv_at] + bad_cvv + good.track2[cvv_at + 1 :], good.cvv2)
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY, magic=None
        ),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
    ):
        tpe = fleet["DZAN0001"]
        pin = holder_pin("EDH-VALID-2")
        results = [
            await tpe.purchase(presented("EDH-VALID-2"), 9_000, pin=pin, entry="magstripe",
                               plastic=good),
            await tpe.purchase(presented("EDH-VALID-2"), 9_000, pin=pin, entry="magstripe",
                               plastic=tampered),
            await tpe.purchase(presented("EDH-VALID-2"), 9_000, entry="keyed", plastic=good),
            await tpe.purchase(presented("EDH-WRONG-CVV2"), 9_000, entry="keyed",
                               plastic=wallet.plastic("EDH-WRONG-CVV2")),
            await tpe.purchase(presented("EDH-WRONG-CVV2"), 9_000, pin="1234",
                               chip=wallet.chip("EDH-WRONG-CVV2")),
        ]  # fmt: skip
        with pytest.raises(TerminalError, match="needs the card's plastic"):
            await tpe.purchase(presented("EDH-VALID-2"), 9_000, entry="keyed")
    assert [r.verdict for r in results] == ["00", "05", "00", "05", "00"]
    assert check_ledger(db).ok
