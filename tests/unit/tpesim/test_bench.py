"""`tpesim bench crypto` runs and reports; its figures belong in docs/performance.md, not here."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tpesim.bench.crypto import CRYPTO_LIMIT_US, percentile, run_crypto_bench
from tpesim.bench.ledger import run_ledger_bench
from tpesim.cli.support import paced_rate
from wire.sealing import DukptFlavour


@pytest.mark.parametrize("dukpt", ["aes", "tdes"])
def test_crypto_bench_reports_every_part(dukpt: DukptFlavour) -> None:
    """Every benched request verifies (the bench raises otherwise) and the summary is complete."""
    result = run_crypto_bench(count=20, dukpt=dukpt)
    summary = result.summary()
    assert summary["count"] == 20 == len(result.total)
    assert set(summary["parts_p50_us"]) == {"MAC verify", "PIN verify", "ARQC + ARPC"}
    assert summary["limit_us"] == CRYPTO_LIMIT_US
    ordered = sorted(result.total)  # 20 samples: p50 is the 10th, p99 the 20th
    assert (summary["p50_us"], summary["p99_us"]) == (round(ordered[9], 1), round(ordered[19], 1))
    assert "µs" in result.render()


async def test_ledger_bench_runs_both_phases_and_checks(tmp_path: Path) -> None:
    """A small ledger bench: every hold and post accepted, the day settles in full (the bench
    raises otherwise) and the checker passes on the settled ledger."""
    result = await run_ledger_bench(transfers=400, batch=100, settle=2_000, workdir=tmp_path)
    summary = result.summary()
    assert summary["check_ok"] is True and summary["settle_transfers"] == 2_000
    assert 0 < summary["holds_posts_per_s"] <= max(summary["holds_per_s"], summary["posts_per_s"])
    assert "holds+posts" in result.render()


def test_percentiles_are_nearest_rank() -> None:
    """The p-th percentile of n samples is the ceil(p x n)-th smallest: of 1..100, p99 is 99
    (not the maximum) and p50 is 50; of 1..150, p50 is 75."""
    hundred = [float(v) for v in range(100, 0, -1)]
    assert (percentile(hundred, 0.99), percentile(hundred, 0.5)) == (99.0, 50.0)
    assert percentile([float(v) for v in range(1, 151)], 0.5) == 75.0
    assert percentile([7.0], 0.99) == percentile([7.0], 0.0) == 7.0
    assert percentile([], 0.5) == 0.0


@pytest.mark.parametrize(("text", "rate"), [("half", "half"), ("250", 250.0), ("0.5", 0.5)])
def test_paced_takes_a_rate_or_half(text: str, rate: float | str) -> None:
    assert paced_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "-3", "fast", "nan", "200000"])
def test_paced_refuses_what_is_not_a_rate(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        paced_rate(text)
