"""`tpesim bench crypto` runs and reports; its figures belong in docs/performance.md, not here."""

from __future__ import annotations

import pytest

from switch.security.keys import DukptFlavour
from tpesim.bench import CRYPTO_LIMIT_US, run_crypto_bench


@pytest.mark.parametrize("dukpt", ["aes", "tdes"])
def test_crypto_bench_reports_every_part(dukpt: DukptFlavour) -> None:
    """Every benched request verifies (the bench raises otherwise) and the summary is complete."""
    result = run_crypto_bench(count=20, dukpt=dukpt)
    summary = result.summary()
    assert summary["count"] == 20 == len(result.total)
    assert set(summary["parts_p50_us"]) == {"MAC verify", "PIN verify", "ARQC + ARPC"}
    assert summary["limit_us"] == CRYPTO_LIMIT_US
    assert summary["p50_us"] <= summary["p99_us"]
    assert "µs" in result.render()
