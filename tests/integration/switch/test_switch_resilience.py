"""The switch under bad input and under kill -9, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards.catalog import default_card_set
from switch.ledger.checker.check import check_ledger
from switch.startup import running_switch
from terminal.builder import CardPresentation
from terminal.traffic import plan_traffic
from tests.chips import chip_of
from tests.conftest import MosquittoProcess
from tests.ledger_assertions import assert_outcomes_match_ledger
from tests.mqtt_helpers import next_on, observer
from tpesim.fleet import connected_fleet, run_plan
from wire.clock import SystemClock
from wire.magic import magic_amounts
from wire.protocol import topics
from wire.registry import default_registry
from wire.transport.base import BrokerUrl

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()


async def test_bad_input_gets_format_error_and_switch_keeps_serving(
    mosquitto: MosquittoProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Malformed requests get DE39 30 on the sender's topic; unattributable ones are dropped."""
    tid = "DZAL0001"
    pan = CARDS.card("EDH-VALID").pan
    async with running_switch(
        broker=mosquitto.url,
        db_path=tmp_path / "ledger.db",
        cards=CARDS,
        registry=REGISTRY,
        magic=magic_amounts(),
    ) as switch:
        async with observer(mosquitto.url, "tpe/+/resp") as (client, responses):
            # Not JSON at all, with a PAN inside: answered 0210/30, logged masked.
            await client.publish(topics.request(tid), f"garbage {pan} {{".encode())
            reply = json.loads((await next_on(responses, topics.response(tid))).payload)
            assert (reply["mti"], reply["39"], reply["41"]) == ("0210", "30", tid)
            # A sign-on with a broken field: answered 0810/30 naming the field, STAN echoed.
            bad_sign_on = {"mti": "0800", "7": "1399999999", "11": "000123", "41": tid, "70": "001"}
            await client.publish(topics.request(tid), json.dumps(bad_sign_on).encode())
            reply = json.loads((await next_on(responses, topics.response(tid))).payload)
            assert (reply["mti"], reply["39"], reply["11"], reply["44"]) == (
                "0810",
                "30",
                "000123",
                "format error: DE7",
            )
            # A purchase whose DE41 contradicts the topic: 30 on the topic's terminal.
            await client.publish(
                topics.request(tid), json.dumps({"mti": "0200", "41": "DZOR0001"}).encode()
            )
            reply = json.loads((await next_on(responses, topics.response(tid))).payload)
            assert (reply["mti"], reply["39"]) == ("0210", "30")
            # No terminal id in the topic: counted and dropped, nobody answered.
            await client.publish("tpe/not-a-tid/req", b"{}")
            await client.publish("tpe/dzal0001/req", b"{}")
        profile = REGISTRY.get(tid)
        assert profile is not None
        async with connected_fleet(
            [profile], mosquitto.url, clock=SystemClock(), timeout_s=5
        ) as terminals:
            outcome = await terminals[tid].purchase(
                CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS),
                150_000,
                chip=chip_of(CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)),
            )
        assert outcome.approved
        stats = switch.processor.stats
        assert stats.format_errors == 3
        assert stats.unattributed == 2
    assert pan not in caplog.text
    assert "628058******7215" in caplog.text
    assert check_ledger(tmp_path / "ledger.db").ok


async def _start_switch(url: BrokerUrl, db: Path, log: Path) -> asyncio.subprocess.Process:
    """`tpesim switch` as a child process, its log appended to ``log``."""
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tpesim",
            "switch",
            "--broker",
            str(url),
            "--db",
            str(db),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


async def test_kill_switch_mid_run_loses_no_approval(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """kill -9 the switch mid-burst and restart it: every 00 a terminal got is posted."""
    db = tmp_path / "ledger.db"
    log = tmp_path / "switch.log"
    fleet = REGISTRY.fleet(4)
    plan = plan_traffic(
        seed=5, count=120, fleet=fleet, cards=CARDS, magic=None, today=datetime.now(UTC).date()
    )
    async with observer(mosquitto.url, topics.SWITCH_STATUS) as (_, status):
        switch = await _start_switch(mosquitto.url, db, log)
        assert (await next_on(status, topics.SWITCH_STATUS, 30)).payload == b"online"
        halfway = asyncio.Event()

        def progress(finished: int, _: object) -> None:
            if finished == 25:
                halfway.set()

        async def chaos() -> None:
            await halfway.wait()
            os.kill(switch.pid, signal.SIGKILL)
            await switch.wait()
            assert (await next_on(status, topics.SWITCH_STATUS)).payload == b"offline"
            restarted = await _start_switch(mosquitto.url, db, log)
            assert (await next_on(status, topics.SWITCH_STATUS, 30)).payload == b"online"
            restarted_holder.append(restarted)

        restarted_holder: list[asyncio.subprocess.Process] = []
        async with (
            connected_fleet(fleet, mosquitto.url, clock=SystemClock(), timeout_s=2.0) as terminals,
            asyncio.TaskGroup() as group,
        ):
            group.create_task(chaos())
            run = await run_plan(plan, terminals, CARDS, progress=progress)
        (restarted,) = restarted_holder
        restarted.send_signal(signal.SIGTERM)
        assert await restarted.wait() == 0
    assert switch.returncode == -signal.SIGKILL
    assert len(run.outcomes) == 120
    assert sum(o.approved for o in run.outcomes) > 40
    report = check_ledger(db)
    assert report.ok, report.render()
    assert_outcomes_match_ledger(db, run.outcomes)


async def test_terminal_killed_mid_traffic_goes_offline_by_last_will(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """kill -9 a terminal process: the broker publishes its Last Will `offline` (retained)."""
    db = tmp_path / "ledger.db"
    status_topic = topics.status("DZOR0001")
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY, magic=None
        ),
        observer(mosquitto.url, status_topic) as (_, status),
    ):
        terminal = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpesim", "terminal", "--broker", str(mosquitto.url),
            "--tid", "DZOR0001", "--transactions", "5000", "--seed", "2",
            "--state", str(tmp_path / "devices.json"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert (await next_on(status, status_topic, 30)).payload == b"online"
        terminal.kill()
        await terminal.wait()
        offline = await next_on(status, status_topic, 30)
        assert offline.payload == b"offline"
    async with observer(mosquitto.url, status_topic) as (_, retained):
        late_joiner_sees = await next_on(retained, status_topic)
    assert (late_joiner_sees.payload, late_joiner_sees.retain) == (b"offline", True)
    assert check_ledger(db).ok


async def test_switch_reconnects_after_broker_restart(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Stop Mosquitto under a running switch and start it again: the switch comes back."""
    db = tmp_path / "ledger.db"
    async with running_switch(
        broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY, magic=None
    ) as switch:
        mosquitto.stop()
        mosquitto.start()  # same port; no persistence, so the broker starts empty
        async with observer(mosquitto.url, topics.SWITCH_STATUS) as (_, status):
            assert (await next_on(status, topics.SWITCH_STATUS, 30)).payload == b"online"
        assert switch.connected.is_set()
        profile = REGISTRY.get("DZAL0001")
        assert profile is not None
        async with connected_fleet(
            [profile], mosquitto.url, clock=SystemClock(), timeout_s=5
        ) as terminals:
            card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
            outcome = await terminals["DZAL0001"].purchase(card, 42_000, chip=chip_of(card))
    assert outcome.approved
    assert check_ledger(db).ok


async def test_power_loss_mid_sale_is_reversed_at_restart(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """kill -9 a terminal while its sale is in flight (the switch holds it and, magic 77,99,
    stays silent). The terminal wrote the request to its non-volatile memory before sending it;
    powered up again (`tpesim terminal --recover`) it reverses it, and the hold is voided."""
    db = tmp_path / "ledger.db"
    state = tmp_path / "devices.json"
    tid = "DZAL0003"
    async with (
        running_switch(
            broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY,
            magic=magic_amounts(),
        ),
        observer(mosquitto.url, topics.request(tid)) as (_, requests),
    ):  # fmt: skip
        terminal = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpesim", "terminal", "--broker", str(mosquitto.url),
            "--tid", tid, "--card", "EDH-VALID", "--amount", "77,99", "--timeout", "60",
            "--state", str(state),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        sale = await next_on(
            requests, topics.request(tid), 30, where=lambda m: b'"mti":"0200"' in m.payload
        )
        terminal.kill()
        await terminal.wait()
        remembered = json.loads(state.read_text(encoding="utf-8"))["in_flight"]
        assert json.loads(remembered[tid])["11"] == json.loads(sale.payload)["11"]
        recover = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpesim", "terminal", "--broker", str(mosquitto.url),
            "--tid", tid, "--recover", "--state", str(state),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(60):
            out, _ = await recover.communicate()
    assert recover.returncode == 0
    assert "1 reversal(s)" in out.decode() and "0 still queued" in out.decode()
    assert json.loads(state.read_text(encoding="utf-8"))["in_flight"] == {}
    report = check_ledger(db)
    assert report.ok and report.reversals == 1, report.render()
    assert report.holds_pending == 0
