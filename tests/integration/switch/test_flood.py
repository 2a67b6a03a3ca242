"""A flood of malformed messages from one terminal, against the others' latency: with the
per-terminal rate limit, their p90 stays within twice its value without the flood, on one run.

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

from switch.rules.admission import REFUSAL_COST
from switch.service import DEFAULT_LIMIT
from tests.conftest import MosquittoProcess
from tpesim.bench.flood import run_flood_bench
from wire.transport import DEFAULT_CLIENT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(DEFAULT_CLIENT != "native", reason="measured with the native client"),
]

P90_RATIO_MAX = 2.0
"""The others' flooded p90 over their p90 alone, judged on one run. Not the p99: on this shared
machine a neighbour sometimes stalls a process for tens of milliseconds in a run (seen: p99 x7
once, x0.9-1.6 on the runs around it), which moves the ten slowest of 1 000 purchases but not
the hundred slowest. Without the rate limit the flood queues every purchase behind it (p50 and
p90 grow with it; docs/testing.md has the run that shows this test failing then)."""

_TMPFS = Path("/dev/shm")


async def test_a_flooding_terminal_does_not_stall_the_others(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    base = _TMPFS if _TMPFS.is_dir() and os.access(_TMPFS, os.W_OK) else tmp_path
    with tempfile.TemporaryDirectory(dir=base, prefix="tpesim-flood-") as workdir:
        bench = await run_flood_bench(requests=1_000, rate=100.0, flood_rate=2_000.0,
                                      broker=mosquitto.url, workdir=Path(workdir),
                                      mqtt="native")  # fmt: skip
    summary = bench.summary()
    assert bench.all_approved, summary
    assert bench.ratio(0.90) <= P90_RATIO_MAX, summary
    # The flood was real, and the switch read no more of it than the limit lets through: its
    # burst, then a tenth of its rate, each message refused costing REFUSAL_COST tokens.
    assert bench.flood.seconds >= bench.flooded.seconds, summary
    assert bench.flood.sent >= 1_500 * bench.flood.seconds, summary
    refused_rate = DEFAULT_LIMIT.rate / REFUSAL_COST
    admitted = DEFAULT_LIMIT.burst + refused_rate * (bench.flood.seconds + 1)
    assert bench.format_errors <= admitted, summary
    assert bench.dropped + bench.format_errors >= bench.flood.sent - 50, summary
