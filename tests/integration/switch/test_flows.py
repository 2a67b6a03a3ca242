"""The Algérie Poste TPE's other flows over real Mosquitto, on a JSON terminal (DZAL0001) and an
ISO 8583 binary one (DZSE0001): a balance inquiry that prints the real balance after a 51, and
a purchase with cash-back, held whole, with its declines; the day's batch still balances. And
a Tunisian CTI card paying a web shop in Paris, in euros, within its allowance."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cards.catalog import default_card_set
from cards.currency import parse_amount
from cards.holders import holder_pin
from switch.ledger.checker.check import check_ledger
from switch.security import SecurityModule, load_keys
from switch.service import SwitchService
from switch.startup import running_switch
from terminal.builder import CardPresentation
from terminal.records import TerminalError
from terminal.shell.tpe import Terminal
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.settle import run_settlement
from tpesim.wallet import Wallet
from wire.clock import SystemClock
from wire.magic import magic_amounts
from wire.protocol import topics
from wire.protocol.codec import Encoding
from wire.registry import default_registry
from wire.transport.base import Inbound

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()
TIDS = ("DZAL0001", "DZSE0001")


@asynccontextmanager
async def _running(
    mosquitto: MosquittoProcess, tmp_path: Path, tid: str
) -> AsyncIterator[tuple[SwitchService, Terminal, Wallet]]:
    profile = REGISTRY.get(tid)
    assert profile is not None
    wallet = Wallet(CARDS, SecurityModule(load_keys()))
    async with (
        running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=CARDS,
                       registry=REGISTRY, magic=magic_amounts()) as switch,
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
    ):  # fmt: skip
        yield switch, fleet[tid], wallet


def _card(card_id: str) -> CardPresentation:
    return CardPresentation.from_card(CARDS.card(card_id), CARDS)


@pytest.mark.parametrize("tid", TIDS)
async def test_a_balance_inquiry_prints_the_real_balance_after_a_51(
    mosquitto: MosquittoProcess, tmp_path: Path, tid: str
) -> None:
    async with _running(mosquitto, tmp_path, tid) as (switch, tpe, wallet):
        assert tpe.encoding is (Encoding.ISO8583 if tid == "DZSE0001" else Encoding.JSON)
        pin, chip = holder_pin("EDH-NO-FUNDS"), wallet.chip("EDH-NO-FUNDS")
        short = await tpe.purchase(_card("EDH-NO-FUNDS"), 5_000, pin, chip)
        asked = await tpe.balance_inquiry(_card("EDH-NO-FUNDS"), pin, wallet.chip("EDH-NO-FUNDS"))
        held = await switch.processor.ledger.available("CCP-0001005")
        valid_pin, valid_chip = holder_pin("EDH-VALID"), wallet.chip("EDH-VALID")
        await tpe.purchase(_card("EDH-VALID"), 150_000, valid_pin, valid_chip)
        after_sale = await tpe.balance_inquiry(_card("EDH-VALID"), valid_pin, valid_chip)
        stolen = await tpe.balance_inquiry(_card("EDH-STOLEN"), holder_pin("EDH-STOLEN"),
                                           wallet.chip("EDH-STOLEN"))  # fmt: skip
        batch = await tpe.close_batch()
    assert short.verdict == "51"
    assert (asked.verdict, asked.balance, held) == ("00", 1_250, 1_250)
    assert "CONSULTATION DE SOLDE" in asked.receipt
    assert "SOLDE DISPONIBLE" in asked.receipt and "12,50 DA" in asked.receipt
    assert "MONTANT" not in asked.receipt
    assert (after_sale.verdict, after_sale.balance) == ("00", 15_000_000 - 150_000)
    assert (stolen.verdict, stolen.balance) == ("43", None)
    assert "SOLDE DISPONIBLE" not in stolen.receipt
    assert (batch.response_code, batch.sales, batch.sales_amount) == ("00", 1, 150_000)
    report = check_ledger(tmp_path / "ledger.db")
    assert report.ok and (report.postings, report.holds_pending) == (1, 1)  # inquiries hold nothing


@pytest.mark.parametrize("tid", TIDS)
async def test_a_purchase_with_cash_back_holds_the_whole(
    mosquitto: MosquittoProcess, tmp_path: Path, tid: str
) -> None:
    async with _running(mosquitto, tmp_path, tid) as (switch, tpe, wallet):
        pin, chip = holder_pin("EDH-VALID"), wallet.chip("EDH-VALID")
        sale = await tpe.purchase(_card("EDH-VALID"), 150_000, pin, chip, cash_back=200_000)
        too_much = await tpe.purchase(_card("EDH-VALID"), 1_000, pin, chip, cash_back=2_000_100)
        cib = await tpe.purchase(_card("CIB-VALID"), 150_000, holder_pin("CIB-VALID"),
                                 wallet.chip("CIB-VALID"), cash_back=1_000)  # fmt: skip
        available = await switch.processor.ledger.available("CCP-0001001")
        batch = await tpe.close_batch()
    assert (sale.verdict, sale.amount, sale.cash_back) == ("00", 350_000, 200_000)
    assert available == 15_000_000 - 350_000
    for line in ("ACHAT AVEC RETRAIT", "ACHAT", "1 500,00 DA", "RETRAIT", "2 000,00 DA", "TOTAL"):
        assert line in sale.receipt, line
    assert "3 500,00 DA" in sale.receipt
    assert (too_much.verdict, cib.verdict) == ("61", "57")
    assert (batch.response_code, batch.sales_amount) == ("00", 350_000)


@pytest.mark.parametrize("tid", TIDS)
async def test_the_cancel_key_voids_the_last_sale(
    mosquitto: MosquittoProcess, tmp_path: Path, tid: str
) -> None:
    """The last sale is voided: its hold released, the batch without it; then there is
    nothing left to void until the next sale."""
    async with _running(mosquitto, tmp_path, tid) as (switch, tpe, wallet):
        pin, chip = holder_pin("EDH-VALID"), wallet.chip("EDH-VALID")
        kept = await tpe.purchase(_card("EDH-VALID"), 20_000, pin, chip)
        await tpe.purchase(_card("EDH-VALID"), 150_000, pin, chip)
        void = await tpe.void_last()
        with pytest.raises(TerminalError, match="nothing to void"):
            await tpe.void_last()
        available = await switch.processor.ledger.available("CCP-0001001")
        batch = await tpe.close_batch()
    assert kept.verdict == "00"
    assert (void.verdict, void.reversal, void.amount) == ("00", "acknowledged", 150_000)
    assert "ANNULATION ACCEPTEE" in void.receipt and "1 500,00 DA" in void.receipt
    assert available == 15_000_000 - 20_000
    assert (batch.response_code, batch.sales, batch.sales_amount) == ("00", 1, 20_000)
    report = check_ledger(tmp_path / "ledger.db")
    assert report.ok and report.reversals == 1


async def test_tnd_keeps_three_decimals_from_the_keypad_to_the_settlement(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """12,345 DT keyed at a Tunis terminal: DE4 ``000000012345`` on the wire, 12 345 millimes
    held, ``12,345 DT`` on the receipt, the balance in millimes, and the day settled in TND
    with three decimals."""
    profile = REGISTRY.get("TNTU0001")
    assert profile is not None
    amount = parse_amount("12,345", profile.currency)
    async with (
        _running(mosquitto, tmp_path, "TNTU0001") as (switch, tpe, wallet),
        observer(mosquitto.url, topics.TRACE_FILTER) as (_, traces),
    ):
        pin, chip = holder_pin("TN-VALID"), wallet.chip("TN-VALID")
        sale = await tpe.purchase(_card("TN-VALID"), amount, pin, chip)
        sent = json.loads((await next_on(traces, topics.trace("TNTU0001"), where=_sent)).payload)
        asked = await tpe.balance_inquiry(_card("TN-VALID"), pin, chip)
        day = switch.processor.clock.now().astimezone(profile.country.zone).date()
    assert amount == 12_345 and (sale.verdict, sale.amount, sale.currency) == ("00", 12_345, "TND")
    assert (sent["message"]["4"], sent["message"]["49"]) == ("000000012345", "788")
    assert "12,345 DT" in sale.receipt
    assert asked.balance == 850_500 - 12_345 and "838,155 DT" in asked.receipt
    result = await run_settlement(tmp_path / "ledger.db", day, cards=CARDS, registry=REGISTRY,
                                  out=tmp_path / "out")  # fmt: skip
    assert result.check.ok and result.plan is not None
    assert (result.plan.totals["TND"].sales, result.plan.totals["TND"].sales_amount) == (1, 12_345)
    rows = list(csv.reader(result.files[0].read_text(encoding="utf-8").splitlines()))
    merchant = next(row for row in rows if row[3] == "TND" and "TN0000000000301" in row[2])
    assert merchant[5].endswith(" TND") and len(merchant[5].split(",")[1].split()[0]) == 3


def _sent(message: Inbound) -> bool:
    event = json.loads(message.payload)
    return bool(event["hop"] == "terminal" and event["event"] == "sent" and event["mti"] == "0200")


async def test_a_cti_card_pays_a_web_shop_abroad_within_its_allowance(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The web shop's gateway (FRWB0001) takes 19,99 EUR on its payment page from a Tunisian
    CTI card: 68,366 DT leave the card's account; then a sale beyond what is left of the
    1 000 DT allowance is declined 61.
    The day settles the shop in euros and the card's side in dinars."""
    profile = REGISTRY.get("FRWB0001")
    assert profile is not None
    async with _running(mosquitto, tmp_path, "FRWB0001") as (switch, shop, wallet):
        plastic = wallet.plastic("TN-CTI")
        paid = await shop.purchase(_card("TN-CTI"), 1_999, entry="ecommerce", plastic=plastic)
        too_much = await shop.purchase(_card("TN-CTI"), 29_000, entry="ecommerce",
                                       plastic=plastic)  # fmt: skip
        available = await switch.processor.ledger.available("TN-STB-0004002")
        day = switch.processor.clock.now().astimezone(profile.country.zone).date()
    assert (paid.verdict, paid.amount, paid.currency) == ("00", 1_999, "EUR")
    assert "19,99 EUR" in paid.receipt and "68,366 DT" in paid.receipt
    assert "TAUX" in paid.receipt and "1 EUR = 3,42 DT" in paid.receipt
    assert (paid.billed, paid.card_currency) == (68_366, "TND")
    assert available == 2_400_750 - 68_366
    assert (too_much.verdict, too_much.reason) == ("61", "over FX allowance")  # 991,800 DT
    result = await run_settlement(tmp_path / "ledger.db", day, cards=CARDS, registry=REGISTRY,
                                  out=tmp_path / "out")  # fmt: skip
    assert result.check.ok and result.plan is not None
    assert (result.plan.totals["EUR"].sales, result.plan.totals["EUR"].sales_amount) == (1, 1_999)
    assert result.plan.totals["TND"].abroad_amount == 68_366
