"""Numbered batches (DE60) on each ledger backend: a second close reconciles only the new
batch; the same batch closed again (even past midnight) gets the same verdict and records
nothing twice; the same number with another claim (a terminal that lost its counter) is a new
close, reconciled as any other."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from cards import default_card_set
from switch import Processor
from terminal import CardPresentation, RequestBuilder
from tests.chips import chip_purchase
from tests.ledgers import LedgerBackend
from wire import ManualClock, default_registry
from wire.journal import EntryKind, JournalEntry
from wire.protocol import decode_response, encode, topics
from wire.protocol.matching import mismatch
from wire.protocol.messages import BatchRequest

CARDS = default_card_set()
REGISTRY = default_registry()
TID = "DZAL0001"


@pytest.fixture
async def processor(backend: LedgerBackend) -> AsyncIterator[Processor]:
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    async with backend.open(CARDS, clock) as ledger:
        yield Processor(ledger=ledger, cards=CARDS, registry=REGISTRY, clock=clock, magic=None)


class Till:
    def __init__(self, processor: Processor) -> None:
        profile = REGISTRY.get(TID)
        assert profile is not None
        self.processor, self.build = processor, RequestBuilder(profile)
        self.journal: list[JournalEntry] = []

    async def send(self, request: object) -> dict[str, str]:
        reply = await self.processor.process(topics.request(TID), encode(request))  # type: ignore[arg-type]
        assert reply is not None
        decode_response(reply.payload)
        clock = self.processor.clock
        assert isinstance(clock, ManualClock)
        clock.advance(1)
        answer: dict[str, str] = json.loads(reply.payload)
        return answer

    async def sale(self, amount: int) -> None:
        card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
        request = chip_purchase(self.build, card, amount, self.processor.clock.now())
        assert (await self.send(request))["39"] == "00"
        self.journal.append(JournalEntry(EntryKind.SALE, request.stan, amount))

    def close(self, number: int) -> BatchRequest:
        return self.build.batch_close(self.journal, self.processor.clock.now(),
                                      batch_number=number)  # fmt: skip


async def test_batches_are_numbered_and_closes_idempotent(
    processor: Processor, backend: LedgerBackend
) -> None:
    """Issue 20, item 3: batch 1 in balance; the same batch again (a new STAN after a lost
    0510) gets its verdict again; batch 1 with totals that do not add up is reconciled as a new
    close (95, nothing is new since batch 1); batch 2 right after is empty and in balance;
    batch 3 has only its own sale; the ledger stays sound."""
    till = Till(processor)
    await till.send(till.build.sign_on(processor.clock.now()))
    await till.sale(1_000)
    await till.sale(2_000)
    first = till.close(1)
    answer = await till.send(first)
    assert (answer["39"], answer["60"], answer["76"]) == ("00", "000001", "0000000002")
    # The 0510 was lost: the terminal closes the same batch again, under a new STAN.
    retry = till.close(1)
    again = await till.send(retry)
    assert (again["39"], again["44"], again["76"], again["88"]) == (
        "00", "again: in balance", "0000000002", "0000000000003000")  # fmt: skip
    assert mismatch(retry, decode_response(json.dumps(again).encode())) is None
    other = await till.send(till.close(1).model_copy(update={"sales": 1}))
    assert (other["39"], other["76"]) == ("95", "0000000000")
    assert other["124"][0] == "the totals in DE74/76/86/88 do not add up to the journal in DE124"
    # A second close of the day: only what came after the first.
    till.journal = []
    empty = await till.send(till.close(2))
    assert (empty["39"], empty["76"], empty["88"]) == ("00", "0000000000", "0000000000000000")
    await till.sale(3_000)
    third = await till.send(till.close(3))
    assert (third["39"], third["76"], third["88"]) == ("00", "0000000001", "0000000000003000")
    # An empty batch 4, sent twice: a retry. Once batch 5 has closed, batch 4 again is no
    # retry of the last close (a terminal that lost its counter): a new close.
    till.journal = []
    assert (await till.send(till.close(4)))["44"] == "in balance"
    assert (await till.send(till.close(4)))["44"] == "again: in balance"
    assert (await till.send(till.close(5)))["44"] == "in balance"
    assert (await till.send(till.close(4)))["44"] == "in balance"
    # Without DE60 too, a close covers what came since the last one.
    till.journal = []
    plain = till.build.batch_close([], processor.clock.now())
    assert (await till.send(plain))["39"] == "00"
    report = await backend.check()
    assert report.ok, report.render()


async def test_a_close_sent_again_after_midnight_gets_its_verdict(processor: Processor) -> None:
    """A batch closed at 23:50 whose 0510 was lost is closed again at 00:10 (its DE15 now the
    next day): the first close's verdict again, not a 95 on the new day."""
    clock = processor.clock
    assert isinstance(clock, ManualClock)
    clock.advance(9 * 3600 + 50 * 60)  # 13:00 UTC → 22:50 UTC, 23:50 in Algiers
    till = Till(processor)
    await till.send(till.build.sign_on(clock.now()))
    await till.sale(1_000)
    assert (await till.send(till.close(1)))["39"] == "00"
    clock.advance(20 * 60)  # 00:10 in Algiers, the next day
    retry = till.close(1)
    assert retry.settlement_date == "1124"
    again = await till.send(retry)
    assert (again["39"], again["44"], again["76"]) == ("00", "again: in balance", "0000000001")


async def test_a_second_close_still_explains_what_is_new(processor: Processor) -> None:
    """A sale the terminal does not know of (a timeout never reversed) after the first close
    is named by the second close, and the first batch's sales are not."""
    till = Till(processor)
    await till.send(till.build.sign_on(processor.clock.now()))
    await till.sale(1_000)
    assert (await till.send(till.close(1)))["39"] == "00"
    till.journal = []
    await till.sale(2_000)
    till.journal = []  # the terminal lost it
    second = await till.send(till.close(2))
    assert second["39"] == "95"
    assert "unknown to the terminal" in second["124"][0]
    assert len(second["124"]) == 1
