"""The issuer's back office (switch.flows.back_office) on each ledger backend: a card locked by
three wrong PINs is unblocked, a card blocked answers 62 until unblocked, a balance is set by one
adjustment transfer, every action is an event, and the ledger stays sound."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch import Processor
from switch.flows.back_office import administer, event_from_row
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation, RequestBuilder
from terminal.pinpad import PinPad
from tests.chips import chip_purchase
from tests.ledgers import LedgerBackend
from wire import ManualClock, default_registry
from wire.protocol import encode, topics
from wire.sealing import seal

CARDS = default_card_set()
REGISTRY = default_registry()
TID = "DZAL0001"
CARD = "CIB-VALID"
ACCOUNT = CARDS.card(CARD).account
SECURITY = SecurityModule(load_keys())


@pytest.fixture
async def processor(backend: LedgerBackend) -> AsyncIterator[Processor]:
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    async with backend.open(CARDS, clock) as ledger:
        yield Processor(ledger=ledger, cards=CARDS, registry=REGISTRY, clock=clock, magic=None,
                        security=SECURITY)  # fmt: skip


class Till:
    """Terminal TID with its PIN pad, signed on to ``processor``."""

    def __init__(self, processor: Processor) -> None:
        profile = REGISTRY.get(TID)
        assert profile is not None
        self.processor, self.build = processor, RequestBuilder(profile)
        self.pad = PinPad(SECURITY.inject_terminal_key(TID))

    async def sign_on(self) -> None:
        await self.processor.process(topics.request(TID), encode(self.build.sign_on(self.now)))

    @property
    def now(self) -> datetime:
        return self.processor.clock.now()

    async def pay(self, amount: int, pin: str | None = None) -> str:
        """A purchase with CARD and ``pin`` (the holder's own by default): DE39."""
        keys = self.pad.next_transaction()
        card = CardPresentation.from_card(CARDS.card(CARD), CARDS)
        block = keys.encrypt_pin(pin or holder_pin(CARD), card.pan)
        request = chip_purchase(
            self.build, card, amount, self.now, pin_block=block, ksn=keys.ksn_hex
        )
        reply = await self.processor.process(topics.request(TID), seal(request, keys))
        assert reply is not None
        clock = self.processor.clock
        assert isinstance(clock, ManualClock)
        clock.advance(1)
        code: str = json.loads(reply.payload)["39"]
        return code


async def test_a_card_locked_by_wrong_pins_is_unblocked(
    processor: Processor, backend: LedgerBackend
) -> None:
    """Issue 20, item 6: three wrong PINs lock the card (75, even with the right PIN); the
    back office unblocks it and the right PIN pays again; the event says who and why."""
    till = Till(processor)
    await till.sign_on()
    codes = [await till.pay(1_000, pin) for pin in ("0000", "9999", "1111", None)]
    assert codes == ["55", "55", "75", "75"]
    event = await administer(processor.ledger, CARDS, CARD, "unblock", now=till.now,
                             actor="tester", reason="holder called")  # fmt: skip
    assert (event.action, event.actor, event.detail) == ("unblock", "tester",
                                                          {"reason": "holder called"})  # fmt: skip
    assert await till.pay(1_000) == "00"
    assert (await processor.ledger.card_state(CARD)).pin_failures == 0
    assert await till.pay(1_000, "0000") == "55"  # counting afresh
    report = await backend.check()
    assert report.ok, report.render()


async def test_a_blocked_card_answers_62_until_unblocked(
    processor: Processor, backend: LedgerBackend
) -> None:
    """A block refuses every payment 62 (before the PIN is looked at) and keeps the ATC; an
    unblock lets it pay again; the history lists both, in order."""
    till = Till(processor)
    await till.sign_on()
    assert await till.pay(1_000) == "00"
    await administer(processor.ledger, CARDS, CARD, "block", now=till.now, actor="ops")
    assert [await till.pay(1_000), await till.pay(1_000, "0000")] == ["62", "62"]
    assert (await processor.ledger.card_state(CARD)).pin_failures == 0
    await administer(processor.ledger, CARDS, CARD, "unblock", now=till.now, actor="ops")
    assert await till.pay(1_000) == "00"
    events = [event_from_row(row) for row in await processor.ledger.card_events(CARD)]
    assert [e.action for e in events] == ["block", "unblock"]
    assert await processor.ledger.card_events("EDH-VALID") == []
    assert (await backend.check()).ok


async def test_a_balance_is_set_by_one_adjustment(
    processor: Processor, backend: LedgerBackend
) -> None:
    """Setting the available balance to 100,00 DA: a 100,01 purchase is declined 51, 100,00
    is approved; set up again, the money is back; a negative balance is refused; the ledger
    balances throughout."""
    till = Till(processor)
    await till.sign_on()
    event = await administer(processor.ledger, CARDS, CARD, "set-balance", now=till.now,
                             actor="ops", balance=10_000)  # fmt: skip
    assert event.detail["to"] == "100,00 DZD"
    assert await processor.ledger.available(ACCOUNT) == 10_000
    assert await till.pay(10_001) == "51"
    assert await till.pay(10_000) == "00"
    await administer(processor.ledger, CARDS, CARD, "set-balance", now=till.now, actor="ops",
                     balance=500_000)  # fmt: skip
    assert await processor.ledger.available(ACCOUNT) == 500_000
    with pytest.raises(ValueError, match="at least 0"):
        await administer(processor.ledger, CARDS, CARD, "set-balance", now=till.now,
                         actor="ops", balance=-1)  # fmt: skip
    with pytest.raises(KeyError):
        await administer(processor.ledger, CARDS, "NO-SUCH", "block", now=till.now, actor="x")
    for forged in ("two\nlines", "\x1b[31mred", "\u202e", "x" * 201):
        with pytest.raises(ValueError, match="printable"):
            await administer(processor.ledger, CARDS, CARD, "block", now=till.now, actor="x",
                             reason=forged)  # fmt: skip
        with pytest.raises(ValueError, match="printable"):
            await administer(processor.ledger, CARDS, CARD, "block", now=till.now,
                             actor=forged)  # fmt: skip
    assert [event_from_row(r).action for r in await processor.ledger.card_events(CARD)] == [
        "set-balance", "set-balance"]  # fmt: skip
    report = await backend.check()
    assert report.ok, report.render()
