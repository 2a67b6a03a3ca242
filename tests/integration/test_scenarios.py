"""The shipped scenarios pass over real Mosquitto, and a scenario whose expectation is wrong
fails with a readable JUnit failure."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import MosquittoProcess
from tpesim.scenario import Scenario, junit_xml, load_scenario, markdown_report, run_scenario

pytestmark = pytest.mark.integration

SHIPPED = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))


def test_the_pack_is_there() -> None:
    assert len(SHIPPED) >= 4


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
async def test_shipped_scenario_passes(
    mosquitto: MosquittoProcess, tmp_path: Path, path: Path
) -> None:
    result = await run_scenario(load_scenario(path), workdir=tmp_path, broker=mosquitto.url)
    report = markdown_report(result)
    assert result.passed, report
    suite = ET.fromstring(junit_xml(result).split("?>", 1)[1])
    assert suite.get("failures") == "0"
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
