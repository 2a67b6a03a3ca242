"""A flood of malformed messages from one terminal, against the others' latency: with the
per-terminal rate limit, their p99 stays within twice its value without the flood.

Both runs keep the ledger on tmpfs where the machine has one: a disk's fsync stalls, tens of
milliseconds at random on this machine's disk (docs/performance.md, "A flood from one
terminal"), would otherwise decide both p99s whatever the flood does.

The switch reads with tpesim's own MQTT client, the default: under the aiomqtt adapter, paho
parses each of the 2 000 flood messages a second before the limit can drop it, and the others'
p99 grows x14-16 (docs/performance.md), so that pass of CI skips this test.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from switch.admission import REFUSAL_COST
from switch.service import DEFAULT_LIMIT
from switch.transport import DEFAULT_CLIENT
from tests.conftest import MosquittoProcess
from tpesim.bench_flood import FloodBench, run_flood_bench

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(DEFAULT_CLIENT != "native", reason="measured with the native client"),
]

ATTEMPTS = 3
"""Runs before the test fails: a neighbour on this shared machine sometimes stalls a process
for tens of milliseconds during one run (seen: p99 x7 once, x1.1-1.4 on the runs around it);
without the rate limit every run is hundreds of times slower, so the test still fails then."""

_TMPFS = Path("/dev/shm")


async def test_a_flooding_terminal_does_not_stall_the_others(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    base = _TMPFS if _TMPFS.is_dir() and os.access(_TMPFS, os.W_OK) else tmp_path
    runs: list[FloodBench] = []
    while len(runs) < ATTEMPTS and (not runs or runs[-1].p99_ratio > 2.0):
        with tempfile.TemporaryDirectory(dir=base, prefix="tpesim-flood-") as workdir:
            run = run_flood_bench(requests=1_000, rate=100.0, flood_rate=2_000.0,
                                  broker=mosquitto.url, workdir=Path(workdir),
                                  mqtt="native")  # fmt: skip
            runs.append(await run)
    bench = runs[-1]
    summary = bench.summary()
    assert bench.all_approved, summary
    assert bench.p99_ratio <= 2.0, [run.summary() for run in runs]
    # The flood was real, and the switch read no more of it than the limit lets through: its
    # burst, then a tenth of its rate, each message refused costing REFUSAL_COST tokens.
    assert bench.flood.seconds >= bench.flooded.seconds, summary
    assert bench.flood.sent >= 1_500 * bench.flood.seconds, summary
    refused_rate = DEFAULT_LIMIT.rate / REFUSAL_COST
    admitted = DEFAULT_LIMIT.burst + refused_rate * (bench.flood.seconds + 1)
    assert bench.format_errors <= admitted, summary
    assert bench.dropped + bench.format_errors >= bench.flood.sent - 50, summary
