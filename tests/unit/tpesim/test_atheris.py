"""Coverage-guided fuzzing with atheris where it runs (tests/atheris_fuzz.py): each target gets a
fixed budget of runs from a fixed seed, in a process of its own (a crash is libFuzzer's exit
code, not pytest's), and must finish them all."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris runs on CPython for Linux x86_64 only")

ROOT = Path(__file__).resolve().parents[3]
BUDGET = {"request": 100_000, "iso8583": 50_000, "api": 50_000}
"""Runs per target (CI's; TPESIM_ATHERIS_RUNS sets one figure for both)."""


@pytest.mark.parametrize("target", sorted(BUDGET))
def test_fuzzed_inputs_find_no_crash(target: str, tmp_path: Path) -> None:
    runs = int(os.environ.get("TPESIM_ATHERIS_RUNS", BUDGET[target]))
    options = [f"-runs={runs}", "-seed=1", "-max_len=2048", f"-artifact_prefix={tmp_path}/"]
    command = [sys.executable, "-m", "tests.atheris_fuzz", target, *options, str(tmp_path / "c")]
    result = subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-"))]
    assert result.returncode == 0, (crashes, result.stderr[-4000:])
    assert re.search(rf"Done {runs} runs", result.stderr), result.stderr[-2000:]
