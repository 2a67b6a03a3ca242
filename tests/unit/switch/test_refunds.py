"""Refunds bounded by what was paid (switch.rules.refunds): the pure rule at its boundaries, and the
switch on each ledger backend giving back at most what a sale took, across refunds, their
reversals, the sale's void and clearing; the checker catching a sale over-refunded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cards import default_card_set
from switch import Processor
from switch.flows.settlement import settle_day
from switch.ledger import Phase, TransferKind
from switch.ledger.postings import hold_id
from switch.ledger.rules import Transfer
from switch.rules.refunds import RefundOriginal, captured, refund_refusal
from terminal import CardPresentation, RequestBuilder
from tests.chips import chip_purchase
from tests.ledgers import LedgerBackend
from wire import ManualClock, default_registry
from wire.protocol import decode_response, encode, topics
from wire.protocol.messages import FinancialRequest, OriginalDataElements
from wire.registry import TerminalProfile

CARDS = default_card_set()
REGISTRY = default_registry()
TID = "DZAL0001"
NO_UNREFERENCED = "DZTO0001"
"""A terminal of Electro Djurdjura, whose refunds must name their sale."""
ACCOUNT = CARDS.card("EDH-VALID").account


@pytest.mark.parametrize(
    ("amount", "card", "original", "limit", "verdict"),
    [
        (500, "C", None, 500, None),
        (501, "C", None, 500, ("13", "over unreferenced limit")),
        (1, "C", None, 0, ("57", "refund needs its sale")),
        (1, "C", RefundOriginal(None), 500, ("25", "original sale not found")),
        (1, "C", RefundOriginal("h", "D", captured=10), 500, ("12", "not the sale's card")),
        (7, "C", RefundOriginal("h", "C", captured=10, refunded=3), 0, None),
        (8, "C", RefundOriginal("h", "C", captured=10, refunded=3), 10**6,
         ("13", "over what the sale left")),
        (1, "C", RefundOriginal("h", "C", captured=10, refunded=12), 0,
         ("13", "over what the sale left")),
    ],
)  # fmt: skip
def test_the_refund_rule_at_its_boundaries(
    amount: int,
    card: str,
    original: RefundOriginal | None,
    limit: int,
    verdict: tuple[str, str] | None,
) -> None:
    """What is left is captured less refunded: left is approved, left + 1 is 13; the
    merchant's unreferenced limit likewise; a named sale's limit ignores the merchant's."""
    assert refund_refusal(amount, card, original, unreferenced_max=limit) == verdict


def test_what_a_sale_keeps() -> None:
    """A purchase keeps its hold until resolved, then what was posted; a pre-authorization
    only what a completion posted; nothing once voided, expired or corrected."""
    build = RequestBuilder(_profile(TID))
    sale = chip_purchase(build, _card("EDH-VALID"), 2_500, _T0)
    hold = _hold(sale, TransferKind.PURCHASE)
    preauth = replace(hold, kind=TransferKind.PREAUTH)
    posted = replace(hold, phase=Phase.POST, amount=1_800, pending_id=hold.id)
    voided = replace(posted, phase=Phase.VOID, amount=2_500)
    assert captured(hold, None, corrected=False) == 2_500
    assert captured(preauth, None, corrected=False) == 0
    assert captured(preauth, posted, corrected=False) == 1_800
    assert captured(hold, voided, corrected=False) == 0
    assert captured(hold, replace(posted, amount=2_500), corrected=True) == 0


_T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def _profile(tid: str) -> TerminalProfile:
    profile = REGISTRY.get(tid)
    assert profile is not None
    return profile


def _card(card_id: str) -> CardPresentation:
    return CardPresentation.from_card(CARDS.card(card_id), CARDS)


def _hold(request: FinancialRequest, kind: TransferKind) -> Transfer:
    return Transfer(
        id=hold_id(kind, request.key), kind=kind, phase=Phase.PENDING,
        debit_account=ACCOUNT, credit_account="merchant:X", amount=request.amount,
        currency="DZD", card_id="EDH-VALID", tid=request.terminal_id,
    )  # fmt: skip


class Till:
    """A signed-on terminal of ``tid`` talking to ``processor`` without a broker."""

    def __init__(self, processor: Processor, tid: str = TID) -> None:
        self.processor, self.tid = processor, tid
        self.build = RequestBuilder(_profile(tid))

    async def send(self, request: object) -> dict[str, str]:
        reply = await self.processor.process(topics.request(self.tid), encode(request))  # type: ignore[arg-type]
        assert reply is not None
        decode_response(reply.payload)
        clock = self.processor.clock
        assert isinstance(clock, ManualClock)
        clock.advance(1)  # a new DE7 for the next request
        answer: dict[str, str] = json.loads(reply.payload)
        return answer

    @property
    def now(self) -> datetime:
        return self.processor.clock.now()

    async def sign_on(self) -> None:
        assert (await self.send(self.build.sign_on(self.now)))["39"] == "00"

    async def sale(self, amount: int, card: str = "EDH-VALID") -> FinancialRequest:
        request = chip_purchase(self.build, _card(card), amount, self.now)
        assert (await self.send(request))["39"] == "00"
        return request

    def refund(
        self, amount: int, of: FinancialRequest | None, card: str = "EDH-VALID"
    ) -> FinancialRequest:
        request = chip_purchase(self.build, _card(card), amount, self.now, processing_code="200000")
        if of is None:
            return request
        named = OriginalDataElements(mti=of.mti, stan=of.stan,
                                     transmission_time=of.transmission_time)  # fmt: skip
        return request.model_copy(update={"original_data": named.encode()})

    async def code(self, request: object) -> str:
        return (await self.send(request))["39"]


@pytest.fixture
async def processor(backend: LedgerBackend) -> AsyncIterator[Processor]:
    clock = ManualClock(_T0)
    async with backend.open(CARDS, clock) as ledger:
        yield Processor(ledger=ledger, cards=CARDS, registry=REGISTRY, clock=clock, magic=None)


async def test_refunds_of_a_sale_give_back_at_most_what_it_took(
    processor: Processor, backend: LedgerBackend
) -> None:
    """A 2 500,00 DA sale takes a 2 000,00 refund, then not another 2 000,00 (13), then its
    last 500,00 exactly, then not a centime more; the merchant's API repro of issue 20."""
    till = Till(processor)
    await till.sign_on()
    sale = await till.sale(250_000)
    first = await till.send(till.refund(200_000, sale))
    assert (first["39"], first["90"]) == ("00", OriginalDataElements(
        mti="0200", stan=sale.stan, transmission_time=sale.transmission_time).encode())  # fmt: skip
    second = await till.send(till.refund(200_000, sale))
    assert (second["39"], second["44"]) == ("13", "over what the sale left")
    assert await till.code(till.refund(50_001, sale)) == "13"
    assert await till.code(till.refund(50_000, sale)) == "00"
    assert await till.code(till.refund(1, sale)) == "13"
    given_back = await processor.ledger.refunded_of(hold_id(TransferKind.PURCHASE, sale.key))
    assert given_back == 250_000
    report = await backend.check()
    assert report.ok, report.render()


async def test_a_reversed_refund_gives_its_room_back_and_a_voided_sale_has_none(
    processor: Processor, backend: LedgerBackend
) -> None:
    """Reversing a refund (0400) makes room for another; once the sale itself is reversed,
    nothing of it can be refunded; after clearing, the room is what was cleared."""
    till = Till(processor)
    await till.sign_on()
    sale = await till.sale(100_000)
    refund = till.refund(100_000, sale)
    assert await till.code(refund) == "00"
    assert await till.code(till.refund(1, sale)) == "13"
    assert await till.code(till.build.reversal(refund, till.now)) == "00"
    assert await till.code(till.refund(60_000, sale)) == "00"
    other = await till.sale(30_000)
    assert await till.code(till.build.reversal(other, till.now)) == "00"
    assert (await till.send(till.refund(1, other)))["44"] == "over what the sale left"
    await settle_day(processor.ledger, _T0.date(), cards=CARDS, registry=REGISTRY)
    assert await till.code(till.refund(40_001, sale)) == "13"
    assert await till.code(till.refund(40_000, sale)) == "00"
    report = await backend.check()
    assert report.ok, report.render()


async def test_a_refund_must_name_a_sale_of_its_card_at_its_terminal(
    processor: Processor,
) -> None:
    """DE90 naming no sale is 25; another card's sale 12; another terminal's sale is not
    found (25); a refund naming a refund 25; DE90 on a purchase 12; a merchant that allows no
    unreferenced refund answers 57 to one, and its limit bounds another merchant's."""
    till, elsewhere = Till(processor), Till(processor, "DZOR0001")
    strict = Till(processor, NO_UNREFERENCED)
    for terminal in (till, elsewhere, strict):
        await terminal.sign_on()
    sale = await till.sale(10_000)
    ghost = sale.model_copy(update={"stan": 999_999})
    assert (await till.send(till.refund(100, ghost)))["44"] == "original sale not found"
    assert (await till.send(till.refund(100, sale, card="CIB-VALID")))["39"] == "12"
    assert await elsewhere.code(elsewhere.refund(100, sale)) == "25"
    refund = till.refund(100, sale)
    assert await till.code(refund) == "00"
    assert await till.code(till.refund(100, refund)) == "25"
    named = till.refund(100, sale).original_data
    purchase = chip_purchase(till.build, _card("EDH-VALID"), 100, till.now)
    assert await till.code(purchase.model_copy(update={"original_data": named})) == "12"
    assert (await strict.send(strict.refund(100, None)))["44"] == "refund needs its sale"
    assert await till.code(till.refund(2_000_000, None)) == "00"  # the default 20 000,00 DA
    assert await till.code(till.refund(2_000_001, None)) == "13"


async def test_the_cash_of_a_cash_back_is_not_refundable(processor: Processor) -> None:
    """A 100,00 DA purchase with 500,00 DA cash-back (DE4 600,00): its refunds give back at
    most the 100,00 of goods, at the switch as at the API."""
    till = Till(processor)
    await till.sign_on()
    card = _card("EDH-VALID")
    sale = chip_purchase(till.build, card, 10_000, till.now, cash_back=50_000)
    assert (await till.send(sale))["39"] == "00"
    assert await till.code(till.refund(10_001, sale)) == "13"
    assert await till.code(till.refund(10_000, sale)) == "00"
    assert await till.code(till.refund(1, sale)) == "13"
