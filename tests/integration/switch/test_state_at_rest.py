"""Card data at rest (issue 21): what `tpesim terminal` and a terminal's non-volatile memory
write to the state file, scanned byte for byte, and the recovery that still works from it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch.ledger.rules import Phase
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from terminal import CardPresentation
from terminal.records import PowerLostError, TransactionOutcome
from tests.cli_process import tpesim
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import observer
from tpesim.fleet import connected_fleet
from tpesim.state import DeviceState
from tpesim.wallet import Wallet
from wire import default_registry, magic_amounts
from wire.clock import SystemClock
from wire.protocol import decode_request, topics
from wire.protocol.messages import FinancialRequest, OriginalDataElements
from wire.transport.base import Inbound

pytestmark = pytest.mark.integration

CARDS = default_card_set()
TID = "DZAL0001"


class RecordingState(DeviceState):
    """The state file as `tpesim terminal` keeps it, each version it writes recorded."""

    def __init__(self, path: Path, versions: list[bytes]) -> None:
        self.versions = versions
        super().__init__(path)

    def save(self) -> None:
        super().save()
        assert self.path is not None
        self.versions.append(self.path.read_bytes())


async def _request(queue: asyncio.Queue[Inbound], seen: list[dict[str, Any]], mti: str,
                   stan: int) -> dict[str, Any]:  # fmt: skip
    """Wait for the ``mti`` request of ``stan`` (for an 0420: the reversal of ``stan``) on the
    observer's ``queue``; every request read meanwhile goes into ``seen``."""
    async with asyncio.timeout(30):
        while True:
            message = json.loads((await queue.get()).payload)
            seen.append(message)
            named = message.get("90", "")[4:10] if mti == "0420" else message["11"]
            if message["mti"] == mti and int(named) == stan:
                return dict(message)


def _card_data(requests: list[dict[str, Any]]) -> set[str]:
    """Every full PAN of the card set, and each request's PIN block, chip data, track 2,
    CVV2 and expiry next to its PAN."""
    secrets = {card.pan for card in CARDS.cards}
    for request in requests:
        secrets |= {request[de] for de in ("2", "35", "52", "55") if de in request}
        if "14" in request:
            secrets |= {request["14"] + request["2"], request["2"] + request["14"]}
        if "48" in request:
            secrets.add(f'"{request["48"]}"')
    return secrets


async def _sale_refund_and_power_loss(
    mosquitto: MosquittoProcess, path: Path, versions: list[bytes]
) -> tuple[TransactionOutcome, TransactionOutcome]:
    """In process, the terminal's memory in the state file at ``path``: a chip + PIN sale, a
    refund of it by reference, and a sale the power cuts once its request has left."""
    security = SecurityModule(load_keys())
    profile = default_registry().get(TID)
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    state = RecordingState(path, versions)
    state.claim([TID])
    wallet = Wallet(CARDS, security, state.chips, shared=state)
    fleet = connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=10,
                            key_injection=security, stans=state.stans, memory=state)  # fmt: skip
    with state:
        async with fleet as terminals:
            tpe = terminals[TID]
            pin, chip = holder_pin("EDH-VALID"), wallet.chip("EDH-VALID")
            sale = await tpe.purchase(card, 3_000, pin=pin, chip=chip)
            assert sale.approved
            original = OriginalDataElements(
                mti="0200", stan=sale.stan, transmission_time=sale.transmission_time
            )
            refund = await tpe.purchase(
                card, 1_000, pin=pin, chip=chip, refund=True, refund_of=original
            )
            assert refund.approved
            tpe.power_fails = True
            with pytest.raises(PowerLostError):
                await tpe.purchase(card, 2_000, pin=pin, chip=chip)
        state.save()
    return sale, refund


async def test_terminals_leave_no_card_data_at_rest_and_still_recover(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """A chip + PIN sale from the CLI (its last sale kept for --void), a sale and its refund by
    reference, a sale cut by a power loss: no version of the state file holds a full PAN, a PIN
    block, chip data, track 2 or an expiry with its PAN, and it is its owner's alone (0600). The
    power-up still reverses the lost sale (its hold voided), and --void still voids the CLI's."""
    db, path = tmp_path / "ledger.db", tmp_path / "devices.json"
    term = f"terminal --broker {mosquitto.url} --state {path} --tid {TID}"
    card = CARDS.card("EDH-VALID")
    versions: list[bytes] = []
    seen: list[dict[str, Any]] = []
    async with (
        running_switch(broker=mosquitto.url, db_path=db, cards=CARDS,
                       registry=default_registry(), magic=magic_amounts()) as switch,
        observer(mosquitto.url, topics.request(TID), topics.response(TID)) as (_, inbox),
    ):  # fmt: skip
        requests: asyncio.Queue[Inbound] = asyncio.Queue()
        answers: asyncio.Queue[Inbound] = asyncio.Queue()

        async def sort() -> None:
            while True:
                message = await inbox.get()
                target = requests if message.topic == topics.request(TID) else answers
                target.put_nowait(message)

        async with asyncio.TaskGroup() as group:
            sorter = group.create_task(sort(), name="sort-observed")
            status, out, err = await tpesim(*f"{term} --card EDH-VALID --amount 15 --json".split())
            assert status == 0, err
            cli_sale = json.loads(out)
            assert cli_sale["response"] == "00"
            assert {"52", "55"} <= set(await _request(requests, seen, "0200", cli_sale["stan"]))
            versions.append(path.read_bytes())

            sale, refund = await _sale_refund_and_power_loss(mosquitto, path, versions)
            lost = decode_request(DeviceState(path).load_in_flight(TID) or b"")
            assert isinstance(lost, FinancialRequest) and lost.pan == card.pan
            for request in (sale, refund, lost):
                await _request(requests, seen, "0200", request.stan)
            async with asyncio.timeout(30):  # the switch held the lost sale (and answered)
                while json.loads((await answers.get()).payload).get("11") != f"{lost.stan:06d}":
                    pass
            versions.append(path.read_bytes())

            status, out, err = await tpesim(*f"{term} --recover".split())  # power up again
            assert status == 0 and "1 reversal(s)" in out, err
            reversal = await _request(requests, seen, "0420", lost.stan)
            versions.append(path.read_bytes())
            status, receipt, err = await tpesim(*f"{term} --void".split())
            assert status == 0 and "ANNULATION ACCEPTEE" in receipt, err
            await _request(requests, seen, "0420", cli_sale["stan"])
            versions.append(path.read_bytes())
            sorter.cancel()
        stored = await switch.processor.ledger.stored_request(lost.key)
        assert stored is not None and stored.transfer_id is not None
        voided = await switch.processor.ledger.resolution_of(stored.transfer_id)
    assert voided is not None and voided.phase is Phase.VOID
    assert (reversal["2"], reversal["4"]) == (lost.pan, f"{lost.amount:012d}")
    leaked = {
        secret for secret in _card_data(seen) for version in versions if secret.encode() in version
    }
    assert not leaked
    kept = [json.loads(version) for version in versions]
    assert any(TID in v["in_flight"] for v in kept) and any(TID in v["last_sales"] for v in kept)
    for written in (path, *tmp_path.glob("devices.json.*")):
        assert written.stat().st_mode & 0o777 == 0o600, written
    status, out, _ = await tpesim("ledger", "check", "--db", str(db))
    assert status == 0, out
