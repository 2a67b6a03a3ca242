"""The demo end to end over real brokers: outcomes, ledger, determinism, CLI contract."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from cards import default_card_set
from tests.conftest import MosquittoProcess
from tests.ledger_assertions import assert_outcomes_match_ledger, net_postings
from tpesim.demo import DemoConfig, run_demo

pytestmark = pytest.mark.integration

# Every response code the shipped card set produces at POS terminals (docs/test-cards.md).
CARD_SET_CODES = {
    "00",
    "05",
    "13",
    "14",
    "41",
    "43",
    "51",
    "54",
    "55",
    "57",
    "61",
    "62",
    "63",
    "75",
}


async def test_demo_over_mosquitto_is_deterministic(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Two runs with the same seed give identical per-transaction outcomes; the ledger balances."""
    results = []
    for run in ("first", "second"):
        config = DemoConfig(
            terminals=6,
            transactions=120,
            seed=11,
            broker=mosquitto.url,
            timeout_s=2.0,
            workdir=tmp_path / run,
        )
        results.append(await run_demo(config))
    first, second = results
    assert [o.verdict for o in first.outcomes] == [o.verdict for o in second.outcomes]
    assert [(o.tid, o.card_id, o.amount) for o in first.outcomes] == [
        (o.tid, o.card_id, o.amount) for o in second.outcomes
    ]
    assert first.outcome_digest == second.outcome_digest
    for result in results:
        assert result.ledger.ok, result.ledger.render()
        assert_outcomes_match_ledger(result.workdir / "ledger.db", result.outcomes)
    third = await run_demo(
        DemoConfig(
            terminals=6,
            transactions=120,
            seed=12,
            broker=mosquitto.url,
            timeout_s=2.0,
            workdir=tmp_path / "other-seed",
        )
    )
    assert third.outcome_digest != first.outcome_digest


def test_cli_demo_json_contract(tmp_path: Path) -> None:
    """`tpesim demo --transactions 300 --terminals 10 --seed 7 --json` under 60 s, all codes."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tpesim",
            "demo",
            "--transactions",
            "300",
            "--terminals",
            "10",
            "--seed",
            "7",
            "--json",
            "--workdir",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["transactions"] == 300
    assert summary["seed"] == 7
    assert summary["broker"] == "mosquitto"
    assert summary["elapsed_s"] < 60
    assert set(summary["responses"]) >= CARD_SET_CODES
    assert summary["approved"] == summary["responses"]["00"]
    assert summary["ledger"]["balanced"] is True
    assert summary["ledger"]["negative_accounts"] == 0
    assert summary["ledger"]["ok"] is True
    assert summary["ledger"]["postings"] >= summary["approved"]
    assert summary["timeouts"] >= 1
    assert summary["qr"] == {"00": 1, "13": 1}  # a QR code paid, one under the 100 DA minimum
    assert summary["abroad"] == {"00": 1, "61": 1}  # the web shop abroad: paid, over the allowance
    assert summary["reversals"]["unresolved"] == 0
    # Per transaction: what each terminal saw matches the ledger the run left behind.
    workdir = Path(summary["workdir"])
    postings = net_postings(workdir / "ledger.db")
    lines = (workdir / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 300
    for record in records:
        standing = postings.get((record["tid"], record["stan"], record["de7"]), False)
        assert standing is (record["response"] == "00"), record
    # Day's end: every terminal's batch balanced, and the day settles to net positions that
    # sum to zero with the ledger still sound.
    assert summary["batches"] == {"closed": 10, "in_balance": 10, "out_of_balance": {}}
    settled = subprocess.run(
        [sys.executable, "-m", "tpesim", "settle", "--db", str(workdir / "ledger.db"),
         "--date", summary["business_day"], "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert settled.returncode == 0, settled.stderr
    report = json.loads(settled.stdout)
    assert report["ledger_ok"] is True and report["positions_sum_to_zero"] is True
    # The TPEs' sales; the web shop abroad's (euros) may fall on another business day.
    cleared = sum(totals["sales"] for code, totals in report["totals"].items() if code != "EUR")
    assert cleared == summary["approved"]
    assert (workdir / f"settlement-{summary['business_day']}-1.csv").exists()
    # Nothing the run wrote carries a full card number: not the log, the trace of every hop,
    # the outcomes, the receipts, the settlement reports, nor the ledger itself.
    written = sorted(path for path in workdir.rglob("*") if path.is_file())
    names = {path.name for path in written}
    assert {"tpesim.log", "traces.jsonl", "outcomes.jsonl", "ledger.db"} <= names
    assert {".txt", ".csv", ".json"} <= {path.suffix for path in written}
    traces = [json.loads(line) for line in (workdir / "traces.jsonl").read_text().splitlines()]
    assert {(t["hop"], t["mti"]) for t in traces} >= {("terminal", "0200"), ("switch", "0210")}
    # JSON and ISO 8583 binary terminals side by side (the registry's DZSE merchant), both
    # approved by the switch.
    approvals = {t["encoding"] for t in traces if t["mti"] == "0210" and t["response_code"] == "00"}
    assert approvals == {"json", "iso8583"}
    for path in written:
        data = path.read_bytes()
        for card in default_card_set().cards:
            assert card.pan.encode() not in data, (path.name, card.id)
    assert b"628058******" in (workdir / "traces.jsonl").read_bytes()


async def test_demo_over_amqtt_fallback(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    """The in-process amqtt broker (MQTT 3.1.1 only) carries the same demo: the same seed gives
    the same outcome for every transaction as over Mosquitto."""
    config = DemoConfig(
        terminals=4,
        transactions=50,
        seed=3,
        broker_kind="amqtt",
        timeout_s=3.0,
        workdir=tmp_path / "amqtt",
    )
    result = await run_demo(config)
    reference = await run_demo(
        replace(config, broker_kind="auto", broker=mosquitto.url, workdir=tmp_path / "mosquitto")
    )
    assert result.broker_kind == "amqtt"
    assert result.timeouts == reference.timeouts  # the seeded no-answer amounts, no others
    assert result.outcome_digest == reference.outcome_digest
    assert result.approved == reference.approved
    assert result.ledger.ok, result.ledger.render()
    assert_outcomes_match_ledger(result.workdir / "ledger.db", result.outcomes)
    assert len(result.outcomes) == 50


async def test_auto_broker_falls_back_to_amqtt_without_mosquitto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine without mosquitto, `auto` starts the in-process amqtt broker."""
    monkeypatch.setattr("tpesim.broker.launcher.find_mosquitto", lambda: None)
    config = DemoConfig(terminals=2, transactions=8, seed=1, timeout_s=3.0, workdir=tmp_path)
    result = await run_demo(config)
    assert result.broker_kind == "amqtt"
    assert len(result.outcomes) == 8
    assert result.ledger.ok


async def test_demo_ui_serves_the_dashboard_while_purchases_run(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """`tpesim demo --ui`: the dashboard's event stream shows the demo's purchases being
    decided, the pages are served, and SIGTERM stops it cleanly."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpesim", "demo", "--ui", "--port", "0", "--terminals", "2",
        "--transactions", "20", "--pace", "0.05", "--broker", f"mqtt://{mosquitto.url.host}:"
        f"{mosquitto.url.port}", "--workdir", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = (await process.stdout.readline()).decode()
        base = re.search(r"dashboard (http://\S+)/ ", line)
        assert base, line
        decided: set[str] = set()
        async with httpx.AsyncClient(base_url=base.group(1), timeout=30) as client:
            page = await client.get("/")
            assert page.status_code == 200 and "ladder" in page.text
            async with asyncio.timeout(60), client.stream("GET", "/ui/events") as events:
                async for text in events.aiter_lines():
                    if text.startswith("data: ") and '"mti": "0200"' in text:
                        event = json.loads(text[6:])
                        if event["status"] not in ("pending", "timeout"):
                            decided.add(event["id"])
                    if len(decided) >= 3:
                        break
            ledger = (await client.get("/ui/ledger")).json()
        assert all(total["balanced"] for total in ledger["totals"])
    finally:
        process.terminate()
        async with asyncio.timeout(30):
            code = await process.wait()
    assert code == 0
