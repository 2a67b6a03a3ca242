"""BaridiPay-style QR payments over real Mosquitto: a terminal shows a code, a wallet app pays it
with its one-time code, the money moves account to account at once, the terminal prints its
receipt; and the declines a holder meets: 13 below 100 DA, 61 over the day's cap, 55 a wrong
code, 51 not enough money, 30 a damaged code, 13 a static code without an amount."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cards.catalog import default_card_set
from cards.models import Channel
from switch.ledger.checker.check import check_ledger
from switch.security import SecurityModule, load_keys
from switch.service import SwitchService
from switch.startup import running_switch
from terminal.shell.tpe import Terminal
from tests.cli_process import tpesim
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from tpesim.baridi import WalletApp
from tpesim.fleet import connected_fleet
from wire.clock import SystemClock
from wire.protocol import topics
from wire.registry import default_registry
from wire.transport.base import Inbound

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()
SECURITY = SecurityModule(load_keys())
TID = "DZAL0001"


@dataclass
class Till:
    switch: SwitchService
    tpe: Terminal
    rich: WalletApp
    poor: WalletApp
    capped: WalletApp
    """EDH-VALID-2's wallet: a QR cap of 50 000 DA a day (cards.yaml)."""


@asynccontextmanager
async def _till(mosquitto: MosquittoProcess, tmp_path: Path) -> AsyncIterator[Till]:
    profile = REGISTRY.get(TID)
    assert profile is not None
    wallets = {
        name: WalletApp(
            name, CARDS.card(card_id).pan, mosquitto.url, cards=CARDS, security=SECURITY
        )
        for name, card_id in (
            ("amina", "EDH-VALID"),
            ("nadia", "EDH-NO-FUNDS"),
            ("hadj", "EDH-VALID-2"),
        )
    }
    async with (
        running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=CARDS,
                       registry=REGISTRY, security=SECURITY) as switch,
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
        wallets["amina"] as rich,
        wallets["nadia"] as poor,
        wallets["hadj"] as capped,
    ):  # fmt: skip
        yield Till(switch, fleet[TID], rich, poor, capped)


async def test_a_dynamic_code_is_paid_once_and_printed(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    async with (
        _till(mosquitto, tmp_path) as till,
        observer(mosquitto.url, topics.trace(TID)) as (_, traces),
    ):
        payload, code = till.tpe.show_qr(150_000)
        waiting = till.tpe.qr_paid(code, timeout_s=10)
        result = await till.rich.pay(payload)
        printed = await waiting
        traced = await next_on(traces, topics.trace(TID), where=_qr_answered)
        ledger = till.switch.processor.ledger
        available = await ledger.available("CCP-0001001")
        balances = await ledger.balances("CCP-0001001")
    assert (result.response_code, result.amount, result.currency) == ("00", 150_000, "DZD")
    assert result.tid == TID and result.qr_reference == code.reference
    assert available == 15_000_000 - 150_000
    assert balances is not None and balances.debits_pending == 0  # posted at once, no hold
    assert printed is not None
    paid, receipt = printed
    assert paid.rrn == result.rrn
    assert "PAIEMENT RECU" in receipt and "1 500,00 DA" in receipt and "628058******7215" in receipt
    report = check_ledger(tmp_path / "ledger.db")
    assert report.ok, report.render()
    # Trainers see it on the terminal's ladder: the card masked, no one-time code.
    event = json.loads(traced.payload)
    assert (event["mti"], event["response_code"], event["message"]["4"]) == (
        "QR", "00", "000000150000")  # fmt: skip
    assert event["message"]["2"] == "628058******7215" and "otp" not in traced.payload.decode()
    assert CARDS.card("EDH-VALID").pan not in traced.payload.decode()


def _qr_answered(message: Inbound) -> bool:
    event = json.loads(message.payload)
    return bool(event["mti"] == "QR" and event["event"] == "answered")


async def test_the_holders_declines(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    limits = CARDS.limits(CARDS.card("EDH-VALID"), Channel.QR)
    assert limits is not None and (limits.min, limits.daily) == (10_000, 50_000_000)
    async with _till(mosquitto, tmp_path) as till:
        static, _ = till.tpe.show_qr()
        below = await till.rich.pay(static, 9_999)
        no_amount = await till.rich.pay(static)
        wrong_code = await till.rich.pay(static, 20_000, otp="000000")
        damaged = await till.rich.pay(static.replace("Baraka", "Barakx"), 20_000)
        broke = await till.poor.pay(static, 20_000)
        within = await till.capped.pay(static, 4_000_000)  # 40 000 DA of its 50 000 DA
        over = await till.capped.pay(static, 1_000_001)
        available = await till.switch.processor.ledger.available("CCP-0001002")
    codes = [r.response_code for r in (below, no_amount, wrong_code, damaged, broke, within, over)]
    assert codes == ["13", "13", "55", "30", "51", "00", "61"]
    assert below.reason == "below minimum amount" and over.reason == "over daily QR cap"
    assert available == 18_000_000 - 4_000_000
    report = check_ledger(tmp_path / "ledger.db")
    assert report.ok, report.render()


async def test_the_cli_shows_a_code_and_a_wallet_pays_it(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """`tpesim qr show` prints the code and waits; `tpesim qr pay` pays it; the terminal's
    process prints the receipt. A static code paid without an amount is refused (exit 1)."""
    broker = f"--broker={mosquitto.url}"
    async with running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db",
                              cards=CARDS, registry=REGISTRY, security=SECURITY):  # fmt: skip
        shown = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpesim", "qr", "show", "--tid", TID, "--amount", "250",
            "--wait", "30", broker, f"--state={tmp_path / 'state.json'}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert shown.stdout is not None
        async with asyncio.timeout(30):
            line = (await shown.stdout.readline()).decode()
        assert line.startswith("code: 0002010102122")
        code = line.removeprefix("code: ").strip()
        status, out, err = await tpesim("qr", "pay", code, "--card", "EDH-VALID", broker)
        async with asyncio.timeout(30):
            receipt, _ = await shown.communicate()
        refused = await tpesim("qr", "pay", code.replace("010212", "010211", 1), "--card",
                               "EDH-VALID", broker)  # fmt: skip
    assert status == 0, err
    assert out.startswith("00 paid: 25000 DZD to Superette El Baraka (DZAL0001)")
    assert shown.returncode == 0 and "PAIEMENT RECU" in receipt.decode()
    assert refused[0] == 2 and "CRC does not match" in refused[2]
