"""Cards paying abroad, in the merchant's currency, within their foreign-currency allowance:
Tunisia's CTI (1 000 TND over the last twelve months) and Morocco's international card
(10 000 MAD of e-commerce per calendar year), at a web shop in Paris paid in euros. On real
SQLite: the two legs of each payment, their reversal and clearing, and the ledger checker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from cards import default_card_set
from cards.fx import default_fx_rates
from switch import Processor
from switch.flows.settlement import settle_day
from switch.ledger import Outcome, Phase, TransferKind
from switch.ledger.postings import hold_id
from switch.ledger.rules import fx_leg_id
from switch.rules.issuers import IssuerState
from terminal import CardPresentation, RequestBuilder
from terminal.offline import offline_advice, offline_verdict
from tests.ledgers import LedgerBackend
from tpesim.wallet import Wallet
from wire import ManualClock, default_registry
from wire.protocol import decode_response, encode, topics
from wire.protocol.amounts import parse_amounts
from wire.protocol.iso8583 import from_iso8583, to_iso8583
from wire.protocol.messages import FinancialRequest

CARDS = default_card_set()
REGISTRY = default_registry()
FX = default_fx_rates()
WEB_SHOP = "FRWB0001"
TUNIS = "TNTU0001"
CTI_ACCOUNT = "TN-STB-0004002"
CTI_OPENING = 2_400_750
EUR = "978"


def _builder(tid: str) -> RequestBuilder:
    profile = REGISTRY.get(tid)
    assert profile is not None
    return RequestBuilder(profile)


async def _answer(processor: Processor, tid: str, request: object) -> dict[str, str]:
    reply = await processor.process(topics.request(tid), encode(request))  # type: ignore[arg-type]
    assert reply is not None
    decode_response(reply.payload)
    result: dict[str, str] = json.loads(reply.payload)
    return result


class Shop:
    """A terminal of ``tid``, signed on, paying with the cards' printed CVV2."""

    def __init__(self, processor: Processor, tid: str = WEB_SHOP) -> None:
        self.processor, self.tid, self.build = processor, tid, _builder(tid)
        self.wallet = Wallet(CARDS, processor.security)

    async def sign_on(self) -> None:
        answer = await _answer(self.processor, self.tid, self.build.sign_on(self.now))
        assert answer["39"] == "00"

    @property
    def now(self) -> datetime:
        return self.processor.clock.now()

    def online(self, card_id: str, amount: int, **fields: object) -> FinancialRequest:
        """An e-commerce sale of ``amount`` minor units of the shop's currency."""
        card = CardPresentation.from_card(CARDS.card(card_id), CARDS)
        cvv2 = self.wallet.plastic(card_id).cvv2
        return self.build.purchase(card, amount, self.now, entry_mode="812",
                                   card_security_code=cvv2, **fields)  # type: ignore[arg-type]  # fmt: skip

    async def pay(self, card_id: str, amount: int, **fields: object) -> dict[str, str]:
        answer = await _answer(self.processor, self.tid, self.online(card_id, amount, **fields))
        _later(self.processor, 1)  # a new DE7 for the next one
        return answer


def _later(processor: Processor, seconds: float) -> None:
    clock = processor.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds)


@pytest.fixture
async def processor(backend: LedgerBackend) -> AsyncIterator[Processor]:
    """A processor of the shipped cards and terminals on each ledger backend, its clock
    stopped at 2026-11-23 13:00 UTC."""
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    async with backend.open(CARDS, clock) as ledger:
        yield Processor(ledger=ledger, cards=CARDS, registry=REGISTRY, clock=clock, magic=None)


async def _ledger_ok(backend: LedgerBackend) -> None:
    report = await backend.check()
    assert report.ok, report.failed()


def _eur_for(minor: int, code: str) -> int:
    """The smallest euro amount (cents) that converts to at least ``minor`` of ``code``."""
    cents = FX.convert(minor, code, "EUR")
    while FX.convert(cents, "EUR", code) < minor:
        cents += 1
    return cents


async def test_a_cti_card_pays_a_web_shop_abroad_in_euros(
    processor: Processor, backend: LedgerBackend
) -> None:
    """19,99 EUR is debited 68,366 DT from the card's account (3.420 DT a euro, rounded half
    up); the shop is owed 19,99 EUR; the exchange desk holds one leg in each currency."""
    shop = Shop(processor)
    await shop.sign_on()
    answer = await shop.pay("TN-CTI", 1_999)
    assert answer["39"] == "00", answer
    assert answer["49"] == EUR and answer["4"] == "000000001999"
    billed = FX.convert(1_999, "EUR", "TND")
    assert billed == 68_366
    # DE6, DE10, DE51: what the card pays, at what rate, in its currency; in binary too.
    assert (answer["6"], answer["10"], answer["51"]) == ("000000068366", "63420000", "788")
    assert from_iso8583(to_iso8583(answer))[0] == answer
    assert await processor.ledger.available(CTI_ACCOUNT) == CTI_OPENING - billed
    desk_tnd = await processor.ledger.balances("fx:TND")
    desk_eur = await processor.ledger.balances("fx:EUR")
    merchant = await processor.ledger.balances("merchant:FR0000000000401:EUR")
    assert desk_tnd is not None and desk_tnd.credits_pending == billed
    assert desk_eur is not None and desk_eur.debits_pending == 1_999
    assert merchant is not None and merchant.credits_pending == 1_999
    await _ledger_ok(backend)


async def test_the_cti_allowance_is_1000_dinars_over_the_last_twelve_months(
    processor: Processor, backend: LedgerBackend
) -> None:
    """Spending abroad counts for a year from its day: on the anniversary's eve it still
    counts (61), on the anniversary it is back. The daily limit resets meanwhile."""
    shop = Shop(processor)
    await shop.sign_on()
    first = _eur_for(600_000, "TND")  # 600 DT
    assert (await shop.pay("TN-CTI", first))["39"] == "00"
    paid_on = shop.now.date()
    plan = await settle_day(processor.ledger, paid_on, cards=CARDS, registry=REGISTRY)
    assert plan is not None  # cleared: the hold no longer expires, the spending stays
    second = _eur_for(450_000, "TND")  # 450 DT: 1 050 DT in the twelve months
    _later(processor, timedelta(days=364).total_seconds())
    assert shop.now.date() == date(2027, 11, 22)
    answer = await shop.pay("TN-CTI", second)
    assert (answer["39"], answer["44"]) == ("61", "over FX allowance")
    assert (await shop.pay("TN-CTI", _eur_for(390_000, "TND")))["39"] == "00"  # 990 DT
    _later(processor, timedelta(days=1).total_seconds())
    assert (await shop.pay("TN-CTI", second))["39"] == "00"  # the 600 DT came back: 840 DT
    await _ledger_ok(backend)


async def test_the_moroccan_allowance_comes_back_on_the_first_of_january(
    processor: Processor, backend: LedgerBackend
) -> None:
    """MA-INTL: 10 000 MAD of e-commerce abroad per calendar year (Casablanca's)."""
    _later(processor, (datetime(2026, 12, 30, 12, tzinfo=UTC) - processor.clock.now())
                            .total_seconds())  # fmt: skip
    shop = Shop(processor)
    await shop.sign_on()
    assert (await shop.pay("MA-INTL", _eur_for(850_000, "MAD")))["39"] == "00"  # 8 500 DH
    await settle_day(processor.ledger, shop.now.date(), cards=CARDS, registry=REGISTRY)
    _later(processor, timedelta(days=1).total_seconds())
    answer = await shop.pay("MA-INTL", _eur_for(200_000, "MAD"))  # 2 000 DH: 10 500 DH
    assert (answer["39"], answer["44"]) == ("61", "over FX allowance")
    _later(processor, timedelta(days=1).total_seconds())
    assert shop.now.date() == date(2027, 1, 1)
    assert (await shop.pay("MA-INTL", _eur_for(200_000, "MAD")))["39"] == "00"
    await _ledger_ok(backend)


async def test_a_reversal_voids_both_legs_and_gives_the_allowance_back(
    processor: Processor, backend: LedgerBackend
) -> None:
    """DE4 of the reversal is the shop's (euros); the card's amount is refused 13."""
    shop = Shop(processor)
    await shop.sign_on()
    near_all = _eur_for(990_000, "TND")
    sale = shop.online("TN-CTI", near_all)
    assert (await _answer(processor, WEB_SHOP, sale))["39"] == "00"
    billed = FX.convert(near_all, "EUR", "TND")
    wrong = shop.build.reversal(sale, shop.now).model_copy(update={"amount": billed})
    assert (await _answer(processor, WEB_SHOP, wrong))["39"] == "13"
    assert (await _answer(processor, WEB_SHOP, shop.build.reversal(sale, shop.now)))["39"] == "00"
    assert await processor.ledger.available(CTI_ACCOUNT) == CTI_OPENING
    merchant = await processor.ledger.balances("merchant:FR0000000000401:EUR")
    assert merchant is not None and merchant.credits_pending == 0
    _later(processor, 1)
    assert (await shop.pay("TN-CTI", near_all))["39"] == "00"  # the allowance is back
    await _ledger_ok(backend)


async def test_clearing_posts_both_legs_and_charges_the_shop_in_euros(
    processor: Processor, backend: LedgerBackend
) -> None:
    shop = Shop(processor)
    await shop.sign_on()
    assert (await shop.pay("TN-CTI", 10_000))["39"] == "00"
    assert (await shop.pay("MA-INTL", 5_000))["39"] == "00"
    plan = await settle_day(processor.ledger, shop.now.date(), cards=CARDS, registry=REGISTRY)
    assert plan is not None
    eur, tnd, mad = plan.totals["EUR"], plan.totals["TND"], plan.totals["MAD"]
    assert (eur.sales, eur.sales_amount) == (2, 15_000)
    assert eur.merchant_fees == 40 + 30  # 0.40 % and 0.60 % of the shop's euros
    assert (tnd.sales, tnd.abroad, tnd.abroad_amount) == (0, 1, 342_000)  # 100 EUR
    assert (mad.abroad, mad.abroad_amount) == (1, 54_250)  # 50 EUR at 10.85 DH
    for code in ("EUR", "TND", "MAD"):
        assert sum(v for (_, c), v in plan.positions.items() if c == code) == 0
    assert plan.positions[("scheme:fx", "TND")] == 342_000
    assert plan.positions[("scheme:fx", "EUR")] == -15_000
    await _ledger_ok(backend)


@pytest.mark.parametrize(
    ("card_id", "tid", "entry", "fields", "code", "reason"),
    [
        ("EDH-VALID", WEB_SHOP, "812", {}, "62", "domestic card abroad"),
        ("TN-VALID", WEB_SHOP, "812", {}, "62", "domestic card abroad"),
        ("MA-VALID", WEB_SHOP, "812", {}, "62", "domestic card abroad"),
        ("TN-CTI", WEB_SHOP, "051", {}, "57", "no FX allowance pos"),
        ("TN-CTI", WEB_SHOP, "812", {"processing_code": "200000"}, "57", "abroad: sales only"),
        ("MA-INTL", TUNIS, "051", {}, "57", "no FX allowance pos"),
        ("CIB-VALID", "MACA0001", "051", {}, "62", "domestic card abroad"),
    ],
)
async def test_what_a_card_cannot_do_abroad(
    processor: Processor,
    backend: LedgerBackend,
    card_id: str,
    tid: str,
    entry: str,
    fields: dict[str, object],
    code: str,
    reason: str,
) -> None:
    shop = Shop(processor, tid)
    await shop.sign_on()
    request = shop.online(card_id, 2_000, **fields).model_copy(update={"entry_mode": entry})
    answer = await _answer(processor, tid, request)
    assert (answer["39"], answer.get("44")) == (code, reason)
    await _ledger_ok(backend)


async def test_a_balance_inquiry_abroad_gives_the_balance_in_dinars(processor: Processor) -> None:
    shop = Shop(processor)
    await shop.sign_on()
    answer = await shop.pay("TN-CTI", 0, processing_code="310000")
    assert answer["39"] == "00"
    (balance,) = parse_amounts(answer["54"])
    assert (balance.currency, balance.amount) == ("788", CTI_OPENING)


async def test_no_stand_in_abroad_the_allowance_is_the_issuers(
    processor: Processor, backend: LedgerBackend
) -> None:
    shop = Shop(processor)
    await shop.sign_on()
    await processor.set_issuer("banque-tunisie", IssuerState.DOWN)
    answer = await shop.pay("TN-CTI", 1_000)
    assert answer["39"] == "91"
    await _ledger_ok(backend)


async def test_the_checker_catches_a_merchant_leg_resolved_without_its_hold(
    processor: Processor, backend: LedgerBackend
) -> None:
    """Voiding only the shop's leg leaves the cardholder's hold pending: a violation."""
    shop = Shop(processor)
    await shop.sign_on()
    sale = shop.online("TN-CTI", 1_999)
    assert (await _answer(processor, WEB_SHOP, sale))["39"] == "00"
    leg = await processor.ledger.transfer(fx_leg_id(hold_id(TransferKind.PURCHASE, sale.key)))
    assert leg is not None and leg.kind is TransferKind.FX
    void = replace(leg, id=f"tampered:{leg.id}", phase=Phase.VOID, pending_id=leg.id)
    assert await processor.ledger.apply([void]) == [Outcome.OK]
    report = await backend.check()
    assert report.failed() == ["fx legs follow their hold"]
    assert report.results["fx legs follow their hold"] == [
        f"hold {hold_id(TransferKind.PURCHASE, sale.key)} is pending but its merchant leg is void"
    ]


async def test_an_offline_sale_abroad_is_posted_in_both_legs(
    processor: Processor, backend: LedgerBackend
) -> None:
    """A TPE in Tunis approved a Moroccan card offline; its 0220 advice is posted as online:
    the card's account pays its dirhams to the exchange desk, the desk the shop its dinars."""
    shop = Shop(processor, TUNIS)
    await shop.sign_on()
    card = CardPresentation.from_card(CARDS.card("MA-INTL"), CARDS)
    sale = shop.build.purchase(card, 12_345, shop.now)  # 12,345 DT
    advice = offline_advice(sale, offline_verdict(sale, floor_limit=50_000))
    assert (await _answer(processor, TUNIS, advice))["39"] == "00"
    billed = FX.convert(12_345, "TND", "MAD")
    assert await processor.ledger.available("MA-ATW-0003003") == 5_000_000 - billed
    merchant = await processor.ledger.balances("merchant:TN0000000000301:TND")
    assert merchant is not None and merchant.credits_pending == 12_345
    await _ledger_ok(backend)


async def test_a_reversal_after_clearing_corrects_both_legs(
    processor: Processor, backend: LedgerBackend
) -> None:
    """Cleared, then reversed: both legs are corrected by a transfer back, the card's money
    and its allowance come back, and the shop gives its euros back."""
    shop = Shop(processor)
    await shop.sign_on()
    near_all = _eur_for(990_000, "TND")
    sale = shop.online("TN-CTI", near_all)
    assert (await _answer(processor, WEB_SHOP, sale))["39"] == "00"
    await settle_day(processor.ledger, shop.now.date(), cards=CARDS, registry=REGISTRY)
    answer = await _answer(processor, WEB_SHOP, shop.build.reversal(sale, shop.now))
    assert (answer["39"], answer["44"]) == ("00", "reversed after clearing")
    assert await processor.ledger.available(CTI_ACCOUNT) == CTI_OPENING
    merchant = await processor.ledger.balances("merchant:FR0000000000401:EUR")
    assert merchant is not None and merchant.credits_posted - merchant.debits_posted < near_all
    _later(processor, 1)
    assert (await shop.pay("TN-CTI", near_all))["39"] == "00"  # the allowance is back
    await _ledger_ok(backend)


async def test_the_daily_limit_abroad_counts_what_the_card_is_billed(
    processor: Processor, backend: LedgerBackend
) -> None:
    """The daily limit is the card's, in its currency. With 1 500 DT spent at home today, a
    600 DT purchase abroad goes over the CTI's 2 000 DT e-commerce day (61), although DE4 says
    only some 175 EUR; 499 DT abroad still fits."""
    home = Shop(processor, TUNIS)
    await home.sign_on()
    card = CardPresentation.from_card(CARDS.card("TN-CTI"), CARDS)
    sale = home.build.purchase(card, 1_500_000, home.now)
    advice = offline_advice(sale, offline_verdict(sale, floor_limit=2_000_000))
    assert (await _answer(processor, TUNIS, advice))["39"] == "00"
    shop = Shop(processor)
    await shop.sign_on()
    answer = await shop.pay("TN-CTI", _eur_for(600_000, "TND"))
    assert (answer["39"], answer["44"]) == ("61", "over daily limit")
    assert (await shop.pay("TN-CTI", _eur_for(499_000, "TND")))["39"] == "00"
    await _ledger_ok(backend)
