"""`tpesim bench switch` end to end on real Mosquitto (a small load): both paths answer every
request, the switch approves and holds each purchase, and the summary has the agreed keys."""

from __future__ import annotations

import asyncio
import math
import os
from pathlib import Path
from typing import Any

import pytest

from switch.ledger.checker.check import check_ledger
from tests.conftest import MosquittoProcess
from tpesim.bench.fleet import run_fleet_bench
from tpesim.bench.load import PathRun
from tpesim.bench.reconnect import AWAY_S
from tpesim.bench.switch import run_switch_bench

pytestmark = pytest.mark.integration


def _assert_summarises(run: PathRun, summary: dict[str, Any], prefix: str) -> None:
    """The summary's figures for ``run`` are computed from its own samples: the rate from its
    count and duration, the percentiles from its latencies (nearest rank)."""
    ordered = sorted(run.latencies_ms)
    assert len(ordered) == run.requests
    assert summary[f"{prefix}p50_ms"] == round(ordered[math.ceil(0.50 * len(ordered)) - 1], 2)
    assert summary[f"{prefix}p99_ms"] == round(ordered[math.ceil(0.99 * len(ordered)) - 1], 2)
    if not prefix:
        assert summary["switch_rps"] == round(run.requests / run.seconds, 1)


@pytest.mark.parametrize("client", ["aiomqtt", "native"])
async def test_the_bench_runs_the_echo_ceiling_and_the_full_switch_path(
    mosquitto: MosquittoProcess, tmp_path: Path, client: str
) -> None:
    bench = await run_switch_bench(requests=150, concurrency=10, broker=mosquitto.url,
                                   workdir=tmp_path, cards=40, mqtt=client)  # fmt: skip
    summary = bench.summary()
    assert summary["cards"] == 40  # issued for the bench, each paying in turn
    assert summary["mqtt_client"] == client
    assert {"echo_rps", "switch_rps", "ratio", "p50_ms", "p99_ms"} <= set(summary)
    assert bench.echo.codes == {"echo": 150} and len(bench.echo.latencies_ms) == 150
    assert summary["approved"] == summary["requests"] == 150
    _assert_summarises(bench.switch, summary, "")
    _assert_summarises(bench.echo, summary, "echo_")
    assert summary["ratio"] == pytest.approx(summary["switch_rps"] / summary["echo_rps"], abs=2e-3)
    # The switch path is the echo path plus the switch's work (decode, HSM, ledger, fsync):
    # its typical answer is slower than an echo's, whatever the machine's load.
    assert summary["p50_ms"] > summary["echo_p50_ms"], summary
    # The switch's CPU per request, from its process's CPU clock over the timed run: what it
    # spent, divided by the requests, and no more than the machine's cores could spend meanwhile.
    assert bench.switch_cpu_s is not None and bench.switch_cpu_s > 0
    assert summary["switch_cpu_us"] == round(bench.switch_cpu_s / 150 * 1e6, 1)
    assert bench.switch_cpu_s <= bench.switch.seconds * (os.cpu_count() or 1)
    # By default the same closed loop runs again with the switch's trace events on: new
    # purchases, each approved, with their own CPU figure.
    assert bench.trace == summary["trace"] == "both" and bench.traced is not None
    assert summary["traced_approved"] == bench.traced.requests == 150
    assert bench.traced_cpu_s is not None and bench.traced_cpu_s > 0
    assert summary["traced_cpu_us"] == round(bench.traced_cpu_s / 150 * 1e6, 1)
    assert summary["traced_p50_ms"] == round(sorted(bench.traced.latencies_ms)[74], 2)
    assert "trace on" in bench.render()
    report = await asyncio.to_thread(check_ledger, tmp_path / "ledger.db")
    assert report.ok
    assert report.as_dict()["postings"] >= 300 + bench.concurrency  # warm-up purchases too


async def test_the_bench_runs_the_switch_once_with_the_trace_as_asked(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    bench = await run_switch_bench(requests=60, concurrency=10, broker=mosquitto.url,
                                   workdir=tmp_path, cards=20, trace="on")  # fmt: skip
    summary = bench.summary()
    assert bench.traced is None and "traced_rps" not in summary and summary["trace"] == "on"
    assert summary["approved"] == 60 and "trace on" in bench.render().splitlines()[2]
    with pytest.raises(ValueError, match="one switch process"):
        await run_switch_bench(requests=10, broker=mosquitto.url, workdir=tmp_path / "w",
                               workers=2, trace="both")  # fmt: skip


async def test_the_paced_run_keeps_its_schedule_whatever_the_answers(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """``--paced``: after the closed loop, as many requests again, open loop at the rate: the
    run cannot be faster than its schedule, every paced purchase is approved and counted."""
    rate = 200.0
    bench = await run_switch_bench(
        requests=100, concurrency=10, broker=mosquitto.url, workdir=tmp_path, cards=40,
        mqtt="native", paced=rate, trace="off",
    )  # fmt: skip
    summary = bench.summary()
    assert bench.paced is not None and bench.all_approved
    assert summary["paced_target_rps"] == rate and summary["paced_approved"] == 100
    assert bench.paced.seconds >= 99 / rate  # the 100th request was due 0.495 s after the first
    assert len(bench.paced.latencies_ms) == 100
    assert summary["paced_p50_ms"] == round(sorted(bench.paced.latencies_ms)[49], 2)
    # 100 requests span 99 intervals of the schedule: at most 100 / (99 / rate) a second.
    assert summary["paced_rps"] == round(100 / bench.paced.seconds, 1) <= round(rate * 100 / 99, 1)
    report = await asyncio.to_thread(check_ledger, tmp_path / "ledger.db")
    assert report.ok
    assert report.as_dict()["postings"] >= 200 + bench.concurrency  # closed, paced and warm-up


@pytest.mark.parametrize("client", ["aiomqtt", "native"])
async def test_the_fleet_bench_holds_every_terminal_with_its_will(
    mosquitto: MosquittoProcess, client: str
) -> None:
    """Every terminal connects with its own connection; the one cut gets its Will published."""
    held = await run_fleet_bench(30, broker=mosquitto.url, mqtt=client)
    summary = held.summary()
    assert summary["connected"] == summary["terminals"] == 30
    assert summary["will_seen"] is True
    assert summary["rss_after_mib"] >= summary["rss_before_mib"] > 0


async def test_the_fleet_comes_back_after_a_broker_restart(tmp_path: Path) -> None:
    """--restart: the bench's own Mosquitto restarts under 40 terminals; every one of them is
    back, none while it was away, and the lockstep schedule (no jitter) brings them in
    one instant where full jitter spreads them: the lockstep ones all land within 100 ms."""
    spreads = {}
    for schedule in ("jitter", "lockstep"):
        held = await run_fleet_bench(40, workdir=tmp_path / schedule, restart=schedule)
        assert held.reconnection is not None
        summary = held.reconnection.summary()
        assert (summary["reconnected"], summary["not_back"]) == (39, 0), summary
        assert held.reconnection.back_s[0] >= AWAY_S  # nobody is back while it is away
        spreads[schedule] = held.reconnection.back_s[-1] - held.reconnection.back_s[0]
    assert spreads["lockstep"] < 0.1 < spreads["jitter"], spreads
