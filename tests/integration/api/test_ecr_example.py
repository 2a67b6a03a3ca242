"""The integrator example in docs/examples runs against `tpesim serve` (a real HTTP server, a
real switch on real Mosquitto): a sale, a decline and a timeout, then a balanced batch.

The terminals' waits for an answer end only when the test passes them (tests/deadlines.py):
once the switch has traced the answer it withholds, never on the wall clock."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from terminal import Terminal
from tests.conftest import MosquittoProcess
from tests.deadlines import HandDeadlines, answer_withheld
from tests.mqtt_helpers import next_on, observer
from tests.serving import serving
from tpesim.serve import ServeConfig, serve
from tpesim.wallet import Wallet
from wire.protocol import topics

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "ecr_client.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ecr_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_integrator_example_drives_a_sale_a_decline_and_a_timeout(
    mosquitto: MosquittoProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ServeConfig(port=0, terminals=2, broker=mosquitto.url, workdir=tmp_path)
    deadlines, handed = HandDeadlines(), asyncio.Event()

    async def hand_deadlines(terminals: dict[str, Terminal], wallet: Wallet) -> None:
        for tpe in terminals.values():
            tpe.channel.deadline = deadlines
        handed.set()

    started = serving(lambda ready: serve(config, ready=ready, traffic=hand_deadlines))
    async with started as (base, tids):
        await handed.wait()
        terminal = next(tid for tid in tids if tid.startswith("DZ"))
        async with observer(mosquitto.url, topics.trace(terminal)) as (_, trace):
            running = asyncio.create_task(asyncio.to_thread(_example().main, base, terminal))
            await next_on(trace, topics.trace(terminal), where=answer_withheld)
            assert await deadlines.pass_waiting() == 1  # the terminal gives up on its 0200
            results = await running
    assert results == {
        "sale": "approved",
        "decline": "declined 51",
        "timeout": "timeout acknowledged",
        "batch": "00",
    }
    assert "TRANSACTION ACCEPTEE" in capsys.readouterr().out
