"""The integrator example in docs/examples runs against `tpesim serve` (a real HTTP server, a
real switch on real Mosquitto): a sale, a decline and a timeout, then a balanced batch."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import MosquittoProcess
from tests.serving import served
from tpesim.serve import ServeConfig

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "ecr_client.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ecr_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_integrator_example_drives_a_sale_a_decline_and_a_timeout(
    mosquitto: MosquittoProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ServeConfig(port=0, terminals=2, broker=mosquitto.url, workdir=tmp_path,
                         timeout_s=1.5)  # fmt: skip
    async with served(config) as (base, tids):
        terminal = next(tid for tid in tids if tid.startswith("DZ"))
        results = await asyncio.to_thread(_example().main, base, terminal)
    assert results == {
        "sale": "approved",
        "decline": "declined 51",
        "timeout": "timeout acknowledged",
        "batch": "00",
    }
    assert "TRANSACTION ACCEPTEE" in capsys.readouterr().out
