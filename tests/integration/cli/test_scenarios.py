"""The shipped scenarios pass over real Mosquitto, and a scenario whose expectation is wrong
fails with a readable JUnit failure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch import processor as processor_module
from switch.flows.resolutions import reverse
from switch.ledger.sqlite.store import Ledger
from switch.processor import Processor
from switch.security import SecurityModule
from switch.startup import running_switch
from terminal import CardPresentation, Terminal, TerminalError
from tests.chips import chip_of
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet
from tpesim.scenario import (
    Scenario,
    junit_xml,
    latency_svg,
    load_scenario,
    markdown_report,
    run_scenario,
)
from wire import default_registry
from wire.clock import SystemClock
from wire.protocol import topics

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()
SHIPPED = sorted((Path(__file__).parents[3] / "scenarios").glob("*.yaml"))


def _restarter(broker: MosquittoProcess) -> Callable[[bool], Awaitable[None]]:
    """Restart the test's Mosquitto on its port: gracefully, or after kill -9."""

    async def restart(kill: bool) -> None:
        await asyncio.to_thread(broker.kill if kill else broker.stop)
        await asyncio.to_thread(broker.start)

    return restart


def test_the_pack_is_there() -> None:
    assert len(SHIPPED) >= 4


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
async def test_shipped_scenario_passes(
    mosquitto: MosquittoProcess, tmp_path: Path, path: Path
) -> None:
    result = await run_scenario(
        load_scenario(path), workdir=tmp_path, broker=mosquitto.url,
        restart_broker=_restarter(mosquitto),
    )  # fmt: skip
    report = markdown_report(result)
    assert result.passed, report
    suite = ET.fromstring(junit_xml(result).split("?>", 1)[1])
    assert suite.get("failures") == "0"
    picture = ET.fromstring(latency_svg(result))
    bars = picture.findall("{http://www.w3.org/2000/svg}rect")
    timed = [s for s in result.steps if s.step.action != "fault"]
    assert len(bars) == 9 and "latency.svg" in report
    assert f"({len(timed)} steps)" in latency_svg(result)
    assert int(suite.get("tests") or 0) == len(result.steps) + len(result.checks)


async def test_a_wrong_expectation_fails_the_scenario(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Expecting an approval for a wrong PIN: that step fails (55), the run fails, the JUnit
    report carries one failure naming what was expected and what came."""
    scenario = Scenario.model_validate(
        {
            "name": "wrong PIN approved?",
            "terminals": ["DZAL0001"],
            "steps": [
                {"terminal": "DZAL0001", "action": "purchase", "card": "EDH-VALID",
                 "amount": "10,00", "pin": "wrong", "expect": "00"},
                {"terminal": "DZAL0001", "action": "close_batch", "expect": "00"},
            ],
        }
    )  # fmt: skip
    result = await run_scenario(scenario, workdir=tmp_path, broker=mosquitto.url)
    assert not result.passed
    assert [s.passed for s in result.steps] == [False, True]
    suite = ET.fromstring(junit_xml(result).split("?>", 1)[1])
    assert suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == "expected 00, got 55"
    assert "**FAIL**" in markdown_report(result)


async def test_same_scenario_and_seed_same_trace(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Two runs of the lossy-link scenario with its seed lose the same messages and give the
    same trace digest; another seed loses others, and the digest differs."""
    scenario = load_scenario(next(p for p in SHIPPED if p.stem == "lossy-link"))
    runs = [
        await run_scenario(scenario, workdir=tmp_path / name, broker=mosquitto.url, seed=seed)
        for name, seed in (("first", None), ("again", None), ("other", scenario.seed + 1))
    ]
    assert runs[0].passed and runs[1].passed
    assert runs[0].trace_digest == runs[1].trace_digest != runs[2].trace_digest
    assert runs[0].links == runs[1].links != runs[2].links
    assert runs[0].postings == runs[1].postings


async def _stored_reversal_forgotten(ledger: Any, request: Any) -> Any:
    """A broken switch: it acknowledges a reversal but never voids the hold."""
    return replace(await reverse(ledger, request), transfer=None)


async def _nothing(*_: Any, **__: Any) -> Any:
    return None


_purchase_view = Ledger.purchase_view


async def _blind_to_reversals(self: Ledger, *args: Any) -> Any:
    """A broken switch: it does not see that a reversal came before its purchase."""
    return replace(await _purchase_view(self, *args), pre_reversed=False)


async def _never(*_: Any, **__: Any) -> bool:
    return False


async def _nothing_flushed(terminal: Terminal) -> int:
    """A broken terminal: it never sends its store-and-forward queue again."""
    return len(terminal.saf)


async def _no_replay(*_: Any, **__: Any) -> int:
    """A broken switch: it never replays stand-in advices to the issuer."""
    return 0


BREAKAGES: dict[str, tuple[Any, str, Any, str]] = {
    # scenario: (what to break, attribute, broken version, the step or check that must fail)
    "wrong-mac": (SecurityModule, "verify_mac", lambda *_, **__: True, "step 2"),
    "reversal-before-original": (Ledger, "purchase_view", _blind_to_reversals, "purchase/pending"),
    "duplicate-stan": (Processor, "_replay", _nothing, "step 6"),
    "issuer-down-stip": (processor_module, "replay_advices", _no_replay, "step 11"),
    "completion-store-and-forward": (Terminal, "flush_saf", _nothing_flushed, "step 4"),
    "terminal-power-loss": (Terminal, "_recover", _nothing, "reversal/void"),
    "offline-floor-limit": (Terminal, "_send_offline", _never, "step 8"),
    "timeout-before-and-after-commit": (
        processor_module,
        "reverse",
        _stored_reversal_forgotten,
        "reversal/void",
    ),
}


@pytest.mark.parametrize("stem", sorted(BREAKAGES))
async def test_a_scenario_fails_when_its_behaviour_is_broken(
    mosquitto: MosquittoProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str
) -> None:
    """Each scenario guards a behaviour: break that behaviour in the switch and the scenario
    fails, at the step or ledger check that names it."""
    target, attribute, broken, where = BREAKAGES[stem]
    monkeypatch.setattr(target, attribute, broken)
    path = next(p for p in SHIPPED if p.stem == stem)
    result = await run_scenario(load_scenario(path), workdir=tmp_path, broker=mosquitto.url)
    assert not result.passed
    failures = [f"step {s.number}" for s in result.steps if not s.passed]
    failures += [name for name, ok, _ in result.checks if not ok]
    assert any(where in failure for failure in failures), failures


async def test_paper_out_is_announced_on_the_status_topic(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Out of paper, the terminal's retained status says degraded:paper-out; refilled, online.
    A sale meanwhile completes and its receipt waits for the reprint."""
    profile = REGISTRY.get("DZAN0002")
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    async with (
        running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=CARDS,
                       registry=REGISTRY, magic=None),
        connected_fleet([profile], mosquitto.url, clock=SystemClock(), timeout_s=5) as fleet,
        observer(mosquitto.url, topics.status("DZAN0002")) as (_, inbox),
    ):  # fmt: skip
        tpe = fleet["DZAN0002"]
        await tpe.set_paper(False)
        status = await next_on(inbox, topics.status("DZAN0002"),
                               where=lambda m: m.payload != b"online")  # fmt: skip
        assert status.payload == b"degraded:paper-out"
        outcome = await tpe.purchase(card, 5_000, pin=holder_pin("EDH-VALID"), chip=chip_of(card))
        assert outcome.approved and not outcome.printed
        with pytest.raises(TerminalError, match="no paper"):
            tpe.reprint()
        await tpe.set_paper(True)
        await next_on(inbox, topics.status("DZAN0002"), where=lambda m: m.payload == b"online")
        assert tpe.reprint() == [outcome.receipt] and tpe.unprinted == []


async def test_a_faulty_chip_reader_falls_back_to_the_stripe(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The chip-reader scenario really swipes: its first sale goes out with DE22 801, track 2
    and no chip data; after the repair, chip data again."""
    path = next(p for p in SHIPPED if p.stem == "chip-reader-fault")
    topic = topics.request("DZOR0003")
    async with observer(mosquitto.url, topic) as (_, requests):
        result = await run_scenario(load_scenario(path), workdir=tmp_path, broker=mosquitto.url)
        sales: list[dict[str, Any]] = []
        while len(sales) < 3:
            message = await next_on(requests, topic, where=lambda m: b'"mti":"0200"' in m.payload)
            sales.append(json.loads(message.payload))
    assert result.passed
    assert (sales[0]["22"], "35" in sales[0], "55" in sales[0]) == ("801", True, False)
    assert (sales[2]["22"], "55" in sales[2]) == ("051", True)
