"""``tpesim scenario fuzz``: random fault timelines over real Mosquitto end with a clean ledger
and every approval held; a broken switch is caught and its seed replays the same run."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from switch import processor as processor_module
from switch.flows.resolutions import reverse
from tests.conftest import MosquittoProcess
from tpesim.scenario import ScenarioResult, run_scenario
from tpesim.scenario.fuzz import fuzz_scenario, run_fuzz

pytestmark = pytest.mark.integration

RUNS = int(os.environ.get("TPESIM_FUZZ_RUNS", "200"))
"""Runs of the full fuzz test (CI runs 200; set TPESIM_FUZZ_RUNS lower for a quick local run)."""


async def test_fuzz_runs_end_with_no_violation_and_no_lost_approval(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    summary = await run_fuzz(RUNS, 1, workdir=tmp_path, broker=mosquitto.url)
    assert summary.render().splitlines()[0] == (
        f"{RUNS} runs, {summary.faults} faults injected, 0 invariant violations, 0 lost approvals, "
        "0 receipt mismatches"
    )
    assert summary.failed_seeds == []
    assert summary.faults >= RUNS and summary.approvals >= 2 * RUNS


def _timing_free(seed: int) -> bool:
    """No fault of this seed's scenario races a timer (held or slowed messages)."""
    faults = {step.fault for step in fuzz_scenario(seed).steps}
    return not faults & {"hold_request", "hold_response", "slow_link"}


async def test_a_fuzz_run_replays_from_its_seed(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """`tpesim scenario run --seed S` is the fuzz run of seed S: the same trace."""
    seed = next(s for s in range(1, 100) if _timing_free(s) and len(fuzz_scenario(s).steps) > 10)
    seen: list[ScenarioResult] = []
    await run_fuzz(1, seed, workdir=tmp_path / "fuzz", broker=mosquitto.url, progress=seen.append)
    replay = await run_scenario(fuzz_scenario(seed), workdir=tmp_path / "replay",
                                broker=mosquitto.url)  # fmt: skip
    assert seen[0].passed and replay.passed
    assert replay.trace_digest == seen[0].trace_digest


async def _forgetful_reverse(ledger: Any, request: Any) -> Any:
    """A broken switch: it acknowledges every reversal and voids nothing."""
    return replace(await reverse(ledger, request), transfer=None)


async def test_fuzz_catches_a_switch_that_forgets_reversals(
    mosquitto: MosquittoProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With reversals acknowledged but never applied, runs whose sales time out end with
    batches out of balance: the fuzz reports them by seed."""
    monkeypatch.setattr(processor_module, "reverse", _forgetful_reverse)
    summary = await run_fuzz(12, 1, workdir=tmp_path, broker=mosquitto.url)
    assert summary.failed_seeds
    assert f"failed: seeds {summary.failed_seeds[0]}" in summary.render()
