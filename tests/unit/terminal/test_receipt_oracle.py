"""The receipt oracle (tpesim.scenario.trace.receipt_mismatches): what terminals reported and
what the ledger holds must agree both ways, on a real SQLite ledger."""

from __future__ import annotations

from pathlib import Path

from cards import default_card_set
from switch import Processor
from switch.ledger import TransferKind
from switch.ledger.postings import hold_id
from terminal import CardPresentation, RequestBuilder
from tests.chips import chip_purchase
from tpesim.scenario.trace import APPROVED, NOT_HELD, UNKNOWN, receipt_mismatches, unheld
from wire import default_registry
from wire.protocol import encode, topics

TID = "DZAL0001"


async def test_reports_and_holds_must_agree_both_ways(processor: Processor, tmp_path: Path) -> None:
    """A held sale reported declined, or never reported, is a mismatch; reported approved or
    unknown it is not; a declined sale that holds nothing agrees with NOT_HELD."""
    profile = default_registry().get(TID)
    assert profile is not None
    build, cards = RequestBuilder(profile), default_card_set()
    card = CardPresentation.from_card(cards.card("EDH-VALID"), cards)
    now = processor.clock.now()
    await processor.process(topics.request(TID), encode(build.sign_on(now)))
    sale = chip_purchase(build, card, 1_000, now)
    declined = chip_purchase(build, CardPresentation.from_card(cards.card("EDH-NO-FUNDS"), cards),
                              1_000_000, now)  # fmt: skip
    for request in (sale, declined):
        await processor.process(topics.request(TID), encode(request))
    await processor.ledger.close()
    db = tmp_path / "ledger.db"
    held, refused = (hold_id(TransferKind.PURCHASE, r.key) for r in (sale, declined))
    assert receipt_mismatches(db, {held: APPROVED, refused: NOT_HELD}, [TID]) == []
    assert receipt_mismatches(db, {held: UNKNOWN}, [TID]) == []
    assert receipt_mismatches(db, {held: NOT_HELD}, [TID]) == [
        f"{held}: the terminal reported it declined or reversed, the ledger holds it"
    ]
    assert receipt_mismatches(db, {}, [TID]) == [
        f"{held}: held by the ledger, never reported approved by its terminal"
    ]
    assert receipt_mismatches(db, {}, ["DZOR0001"]) == []  # not that terminal's
    assert unheld(db, [held, refused]) == [refused]
