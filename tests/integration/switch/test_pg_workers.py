"""Three switch workers, each its own process, on one shared subscription and one PostgreSQL
ledger, over real Mosquitto: one is killed (-9) in the middle of a burst, and still every
approval a terminal received is posted exactly once, and the invariant checker finds nothing."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards import default_card_set
from terminal import plan_traffic
from tests.conftest import MosquittoProcess
from tests.ledger_assertions import assert_outcomes_match_postings, pg_net_postings
from tests.ledgers import LedgerBackend
from tpesim.fleet import connected_fleet, run_plan
from tpesim.workers import switch_workers
from wire import default_registry
from wire.clock import SystemClock

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()
WORKERS = 3


async def test_three_workers_one_killed_mid_burst_post_every_approval_once(
    mosquitto: MosquittoProcess, pg_backend: LedgerBackend, tmp_path: Path
) -> None:
    async with pg_backend.open(CARDS):  # the schema and the opening balances, once
        pass
    location = pg_backend.location
    fleet = REGISTRY.fleet(6)
    plan = plan_traffic(
        seed=11, count=150, fleet=fleet, cards=CARDS, magic=None,
        today=datetime.now(UTC).date(),
    )  # fmt: skip
    log = tmp_path / "workers.log"
    async with switch_workers(WORKERS, broker=mosquitto.url, ledger=location, log=log) as workers:
        victim = workers[0]
        one_third = asyncio.Event()

        def progress(finished: int, _: object) -> None:
            if finished == len(plan) // 3:
                one_third.set()

        async def kill() -> None:
            await one_third.wait()
            os.kill(victim.pid, signal.SIGKILL)

        async with (
            connected_fleet(fleet, mosquitto.url, clock=SystemClock(),
                            timeout_s=2.0) as terminals,
            asyncio.TaskGroup() as group,
        ):  # fmt: skip
            group.create_task(kill())
            run = await run_plan(plan, terminals, CARDS, progress=progress)
    assert [worker.returncode for worker in workers] == [-signal.SIGKILL, 0, 0], log.read_text()
    assert len(run.outcomes) == len(plan)
    approved = [o for o in run.outcomes if o.approved]
    assert len(approved) > len(plan) // 3
    assert any(o.approved for o in run.outcomes[len(plan) // 2 :])  # survivors served
    report = await pg_backend.check()
    assert report.ok, report.render()
    assert report.approvals >= len(approved)
    postings = await pg_net_postings(location)
    assert_outcomes_match_postings(postings, run.outcomes)
