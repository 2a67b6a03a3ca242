"""`tpesim serve --attach`: a dashboard that follows a system running elsewhere on the same
broker sees its terminals and its transactions, and reads its ledger without writing to it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import MosquittoProcess
from tests.serving import served, serving
from tpesim.serve import ServeConfig, watch

pytestmark = pytest.mark.integration

SALE = {"amount_minor": 150_000, "currency": "DZD", "card_id": "EDH-VALID", "idempotency_key": "1"}


async def test_an_attached_dashboard_follows_another_process(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    system = ServeConfig(port=0, terminals=2, broker=mosquitto.url, workdir=tmp_path / "system")
    viewer = ServeConfig(port=0, broker=mosquitto.url, workdir=tmp_path / "viewer")
    async with (
        served(system) as (base, tids),
        serving(
            lambda ready: watch(
                viewer, mosquitto.url, db_path=tmp_path / "system" / "ledger.db", ready=ready
            )
        ) as (view, _),
        httpx.AsyncClient(base_url=base, timeout=30) as pos,
        httpx.AsyncClient(base_url=view, timeout=30) as dashboard,
    ):
        state = (await dashboard.get("/ui/state")).json()
        assert state["fleet"] == [] and set(tids) <= set(state["terminals"])
        assert all(state["terminals"][tid] == "online" for tid in tids)
        async with asyncio.timeout(30), dashboard.stream("GET", "/ui/events") as events:
            paid = await pos.post(f"/v1/terminals/{tids[0]}/payments", json=SALE)
            payment = paid.json()["id"]
            async for line in events.aiter_lines():
                event = json.loads(line[6:]) if line.startswith("data: ") else {}
                if event.get("id") == payment and event["status"] == "approved":
                    break
        ladder = (await dashboard.get(f"/ui/transactions/{payment}")).json()
        assert [a["target"] for a in ladder["arrows"]][:3] == ["broker", "switch", "issuer"]
        ledger = (await dashboard.get("/ui/ledger")).json()
        held = {a["id"]: a["held_minor"] for a in ledger["accounts"]}
        assert held["CCP-0001001"] == 150_000
        refused = await dashboard.post(f"/v1/terminals/{tids[0]}/payments", json=SALE)
        assert refused.status_code == 404  # the viewer drives no terminal
