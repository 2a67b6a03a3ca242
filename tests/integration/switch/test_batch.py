"""Day's end over real Mosquitto: terminals close their batches (0500 → 0510), the switch
explains every difference, and the day settles with net positions that sum to zero."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch.ledger import Ledger, check_ledger
from switch.startup import running_switch
from terminal import CardPresentation
from tests.chips import chip_of
from tests.conftest import MosquittoProcess
from tests.deadlines import HandDeadlines, answer_withheld
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.settle import run_settlement
from wire import default_registry
from wire.clock import SystemClock
from wire.magic import magic_amounts
from wire.protocol import topics

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()
NO_RESPONSE = magic_amounts().amount_for("99", REGISTRY.fleet(1)[0].currency)


async def test_lost_reversal_is_an_explained_out_of_balance_batch(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """DZAL0001 sells twice and balances. DZOR0001 sells once, then a sale gets no response:
    its reversal is lost on the way, so the switch still holds the sale the terminal does not
    count. Its batch is out of balance (95) with that STAN explained; the day still settles."""
    db = tmp_path / "ledger.db"
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    pin = holder_pin("EDH-VALID")
    profiles = [REGISTRY.get("DZAL0001"), REGISTRY.get("DZOR0001")]
    assert None not in profiles
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY,
            magic=magic_amounts(),
        ) as switch,
        connected_fleet(
            profiles, mosquitto.url, clock=SystemClock(), timeout_s=30.0  # type: ignore[arg-type]
        ) as terminals,
        observer(mosquitto.url, topics.trace("DZOR0001")) as (_, trace),
    ):  # fmt: skip
        good, lossy = terminals["DZAL0001"], terminals["DZOR0001"]
        lossy.lose_reversals = True
        lossy.channel.deadline = deadlines = HandDeadlines()
        assert (await good.purchase(card, 120_000, pin=pin, chip=chip_of(card))).approved
        assert (await good.purchase(card, 4_550, pin=pin, chip=chip_of(card))).approved
        assert (await lossy.purchase(card, 30_000, pin=pin, chip=chip_of(card))).approved
        losing = asyncio.create_task(lossy.purchase(card, NO_RESPONSE, pin=pin, chip=chip_of(card)))
        await next_on(trace, topics.trace("DZOR0001"), where=answer_withheld)
        lost = await deadlines.pass_until_done(losing)
        assert lost.response_code is None and lost.reversal == "unresolved"
        balanced = await good.close_batch()
        assert (balanced.response_code, balanced.sales, balanced.sales_amount) == ("00", 2, 124_550)
        assert balanced.differences is None and good.journal == []
        out = await lossy.close_batch()
        replay_count = switch.processor.stats.duplicates
    assert out.response_code == "95"
    assert (out.sales, out.sales_amount) == (2, 30_000 + NO_RESPONSE)
    assert out.differences is not None and len(out.differences) == 1
    explanation = out.differences[0]
    assert f"STAN {lost.stan:06d}" in explanation and "lost reversal" in explanation
    assert replay_count == 0
    report = check_ledger(db)
    assert report.ok, report.render()
    day = SystemClock().now().astimezone(profiles[0].country.zone).date()  # type: ignore[union-attr]
    result = await run_settlement(db, day, cards=CARDS, registry=REGISTRY, out=tmp_path)
    assert result.plan is not None and result.check.ok, result.check.render()
    assert result.plan.totals["DZD"].sales == 4
    assert sum(result.plan.positions.values()) == 0


async def test_preauthorization_completion_refund_and_day_end(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """A hotel-style day at DZAL0002: pre-authorize 1 000 DA (0100), complete 640 DA (0220; the
    rest goes back), refuse a completion above the hold (13) and a second one (12), cancel
    another pre-authorization with a reversal, refund 150 DA (0200, DE3 20). The batch balances
    with one sale and one refund, and the day settles them."""
    db = tmp_path / "ledger.db"
    card = CardPresentation.from_card(CARDS.card("EDH-VALID-2"), CARDS)
    pin = holder_pin("EDH-VALID-2")
    profile = REGISTRY.get("DZAL0002")
    assert profile is not None
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY, magic=None
        ),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
    ):
        tpe = fleet["DZAL0002"]
        opening = await ledger_available(db, "EDH-VALID-2")
        hold = await tpe.purchase(card, 100_000, pin=pin, preauth=True, chip=chip_of(card))
        assert hold.approved and hold.auth_code
        assert await ledger_available(db, "EDH-VALID-2") == opening - 100_000
        too_much = await tpe.complete(hold.stan, 100_001)
        assert too_much is not None and too_much.response_code == "13"
        original = tpe.authorizations[hold.stan]
        done = await tpe.complete(hold.stan, 64_000)
        assert done is not None and done.response_code == "00"
        assert await ledger_available(db, "EDH-VALID-2") == opening - 64_000
        tpe.authorizations[hold.stan] = original  # a buggy ECR completing twice
        again = await tpe.complete(hold.stan, 1_000)
        assert again is not None and again.response_code == "12"
        del tpe.authorizations[hold.stan]
        cancelled = await tpe.purchase(card, 50_000, pin=pin, preauth=True, chip=chip_of(card))
        assert cancelled.approved
        assert await tpe.cancel_authorization(cancelled.stan) == "acknowledged"
        refund = await tpe.purchase(card, 15_000, pin=pin, refund=True, chip=chip_of(card))
        assert refund.approved
        # A refund reaches the cardholder at clearing, not before.
        assert await ledger_available(db, "EDH-VALID-2") == opening - 64_000
        batch = await tpe.close_batch()
    assert batch.response_code == "00", batch.differences
    assert (batch.sales, batch.sales_amount, batch.refunds, batch.refunds_amount) == (
        1, 64_000, 1, 15_000,
    )  # fmt: skip
    assert check_ledger(db).ok
    day = SystemClock().now().astimezone(profile.country.zone).date()
    result = await run_settlement(db, day, cards=CARDS, registry=REGISTRY, out=tmp_path)
    assert result.plan is not None and result.check.ok, result.check.render()
    totals = result.plan.totals["DZD"]
    assert (totals.sales, totals.sales_amount, totals.refunds, totals.refunds_amount) == (
        1, 64_000, 1, 15_000,
    )  # fmt: skip


async def ledger_available(db: Path, card_id: str) -> int:
    async with await Ledger.open(db) as ledger:
        return await ledger.available(CARDS.card(card_id).account)


async def test_store_and_forward_reversal_reaches_the_switch_later(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """A sale gets no answer and its reversal advice is lost while the link is bad; it stays in
    the terminal's store-and-forward queue and goes out as an 0421 before the next sale, voids
    the hold, and the batch balances. A further repeat of the same advice is a duplicate."""
    db = tmp_path / "ledger.db"
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    pin = holder_pin("EDH-VALID")
    profile = REGISTRY.get("DZSE0001")
    assert profile is not None
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY,
            magic=magic_amounts(),
        ) as switch,
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=30.0) as fleet,
        observer(mosquitto.url, topics.trace("DZSE0001")) as (_, trace),
    ):  # fmt: skip
        tpe = fleet["DZSE0001"]
        tpe.lose_reversals = True
        tpe.channel.deadline = deadlines = HandDeadlines()
        losing = asyncio.create_task(tpe.purchase(card, NO_RESPONSE, pin=pin, chip=chip_of(card)))
        await next_on(trace, topics.trace("DZSE0001"), where=answer_withheld)
        lost = await deadlines.pass_until_done(losing)
        assert lost.reversal == "unresolved" and len(tpe.saf) == 1
        queued = list(tpe.saf)
        tpe.lose_reversals = False  # the link is back
        assert (await tpe.purchase(card, 20_000, pin=pin, chip=chip_of(card))).approved
        assert tpe.saf == [] and tpe.stats.reversals_unresolved == 0
        tpe.saf = queued  # the same advice once more, under its first KSN and MAC
        assert await tpe.flush_saf() == 0
        duplicates = switch.processor.stats.duplicates
        batch = await tpe.close_batch()
    assert duplicates == 1 and queued[0][0].mti == "0420"
    assert batch.response_code == "00", batch.differences
    assert (batch.sales, batch.sales_amount) == (1, 20_000)
    report = check_ledger(db)
    assert report.ok and report.reversals == 1, report.render()
