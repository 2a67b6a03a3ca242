"""``tpesim serve`` stopped and started again on the same work directory: its terminals and
cards remember what real ones keep in non-volatile memory (STANs, chip counters), so chip
payments go on being approved and batches close in balance; a second serve on the same
directory is refused, as two cannot drive the same terminals."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import MosquittoProcess
from tests.serving import served
from tpesim.serve import ServeConfig, serve
from tpesim.state import TerminalBusyError

pytestmark = pytest.mark.integration


async def _pay_and_close(base: str, tid: str, key: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        paid = await client.post(f"/v1/terminals/{tid}/payments", json={
            "amount_minor": 2_000, "currency": "DZD", "card_id": "EDH-VALID",
            "idempotency_key": key})  # fmt: skip
        closed = await client.post(f"/v1/terminals/{tid}/batch")
    return paid.json()["response_code"], closed.json()["response_code"]


async def test_a_restarted_serve_remembers_its_devices(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The same chip card pays before and after a restart (no 05 ATC replayed); each batch
    closes 00; meanwhile a second serve on the directory is refused in one line."""
    config = ServeConfig(port=0, terminals=1, broker=mosquitto.url, workdir=tmp_path)
    async with served(config) as (base, tids):
        tid = tids[0]
        assert await _pay_and_close(base, tid, "before") == ("00", "00")
        with pytest.raises(TerminalBusyError, match=f"terminal {tid} is being driven"):
            await serve(config)
    async with served(config) as (base, _):
        assert await _pay_and_close(base, tid, "after") == ("00", "00")
