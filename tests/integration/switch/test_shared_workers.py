"""Two switch workers on one shared subscription and one ledger file, over real Mosquitto."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards import default_card_set
from switch.ledger import check_ledger
from switch.service import SwitchService
from switch.startup import running_switch
from terminal import CardPresentation, RequestBuilder, plan_traffic
from tests.chips import chip_purchase
from tests.conftest import MosquittoProcess
from tests.ledger_assertions import assert_outcomes_match_ledger, net_postings
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet, run_plan
from wire import default_registry, magic_amounts
from wire.protocol import encode, topics

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()


async def test_two_workers_share_requests_and_post_once(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Requests spread over both workers; sign-on state and idempotency hold across them."""
    db = tmp_path / "ledger.db"
    async with AsyncExitStack() as stack:
        workers: list[SwitchService] = [
            await stack.enter_async_context(
                running_switch(
                    broker=mosquitto.url,
                    db_path=db,
                    cards=CARDS,
                    registry=REGISTRY,
                    magic=magic_amounts(),
                    client_id=f"switch-{name}",
                    shared=True,
                )
            )
            for name in ("a", "b")
        ]
        fleet = REGISTRY.fleet(4)
        plan = plan_traffic(
            seed=9, count=60, fleet=fleet, cards=CARDS, magic=None, today=datetime.now(UTC).date()
        )
        async with connected_fleet(
            fleet, mosquitto.url, clock=workers[0].processor.clock, timeout_s=5
        ) as terminals:
            run = await run_plan(plan, terminals, CARDS)

        # The same purchase fired six times at once, as a confused cash register might.
        profile = fleet[0]
        request = chip_purchase(
            RequestBuilder(profile, first_stan=900_000),
            CardPresentation.from_card(CARDS.card("EDH-VALID-3"), CARDS),
            123_400,
            datetime.now(UTC),
        )
        async with observer(mosquitto.url, topics.response(profile.tid)) as (client, inbox):
            await asyncio.gather(
                *(client.publish(topics.request(profile.tid), encode(request)) for _ in range(6))
            )
            answers = [
                (await next_on(inbox, topics.response(profile.tid))).payload for _ in range(6)
            ]
        handled = [sum(w.processor.stats.requests.values()) for w in workers]

    assert all(count > 0 for count in handled), handled
    assert len(set(answers)) == 1 and b'"39":"00"' in answers[0]
    assert net_postings(db)[request.key] is True
    report = check_ledger(db)
    assert report.ok, report.render()
    assert report.approvals == sum(o.approved for o in run.outcomes) + 1
    assert_outcomes_match_ledger(db, run.outcomes)
    assert not any(o.response_code in {"03", "96"} for o in run.outcomes)
