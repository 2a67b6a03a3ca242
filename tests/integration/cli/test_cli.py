"""The `tpesim` commands an integrator types, against a real Mosquitto and switch."""

from __future__ import annotations

import asyncio
import fcntl
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cards import default_card_set
from switch.startup import running_switch
from tests.cli_process import tpesim
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from wire import default_registry, magic_amounts
from wire.protocol import topics
from wire.transport.base import Inbound

pytestmark = pytest.mark.integration


async def test_terminal_command_runs_purchases_and_ledger_check_agrees(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """One purchase prints its receipt; --json reports a decline; the ledger checks OK."""
    db = tmp_path / "ledger.db"
    term = f"terminal --broker {mosquitto.url} --state {tmp_path / 'devices.json'}"
    async with running_switch(
        broker=mosquitto.url,
        db_path=db,
        cards=default_card_set(),
        registry=default_registry(),
        magic=magic_amounts(),
    ):
        status, out, err = await tpesim(
            *f"{term} --tid DZAL0001 --card EDH-VALID --amount 1500".split()
        )
        assert status == 0, err
        assert "TRANSACTION ACCEPTEE" in out and "1 500,00 DA" in out
        assert "628058******7215" in out and "6280581110007215" not in out
        status, out, err = await tpesim(
            *f"{term} --tid TNTU0001 --card TN-VALID --amount 12,345 --json".split()
        )
        assert status == 0, err
        record = json.loads(out)
        assert (record["response"], record["amount"], record["currency"]) == ("00", 12345, "TND")
        status, out, err = await tpesim(
            *f"{term} --tid DZAL0001 --card EDH-NO-FUNDS --amount 100 --json".split()
        )
        assert (status, json.loads(out)["response"]) == (1, "51")  # declined: exit 1
        status, out, err = await tpesim(
            *f"{term} --terminals 3 --transactions 12 --seed 4 --json".split()
        )
        records = [json.loads(line) for line in out.splitlines()]
        assert len(records) == 12, err
        assert status == (0 if all(r["approved"] for r in records) else 1), err
    status, out, _ = await tpesim("ledger", "check", "--db", str(db))
    assert status == 0
    assert out.startswith("ledger OK: postings=5 approvals=5") and "FAIL" not in out


def _payload_is(payload: bytes) -> Callable[[Inbound], bool]:
    return lambda message: message.payload == payload


def _is_purchase_response(message: Inbound) -> bool:
    return bool(json.loads(message.payload).get("mti") == "0210")


async def test_terminal_command_obeys_operator_controls_while_it_runs(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """`tpesim terminal` running seeded traffic hears `sim/control/tpe/{tid}`: paper-out turns
    its retained status to degraded:paper-out, paper-in back to online."""
    tid = "DZAL0002"
    status, resp = topics.status(tid), topics.response(tid)
    async with (
        running_switch(broker=mosquitto.url, db_path=tmp_path / "ledger.db",
                       cards=default_card_set(), registry=default_registry()),
        observer(mosquitto.url, status, resp) as (control, inbox),
    ):  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpesim", "terminal", "--broker", str(mosquitto.url),
            "--tid", tid, "--transactions", "2000", "--seed", "5", "--json",
            "--state", str(tmp_path / "devices.json"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            # A purchase answered: its traffic runs, so it obeys controls by now (the terminal
            # is handed to the controls just after its sign-on's 0810; waiting for the 0810
            # alone would race that hand-over).
            await next_on(inbox, resp, 30, where=_is_purchase_response)
            for command, seen in [("paper-out", b"degraded:paper-out"), ("paper-in", b"online")]:
                await control.publish(topics.terminal_control(tid), command.encode())
                await next_on(inbox, status, 10, where=_payload_is(seen))
            assert process.returncode is None  # still running: the commands came in time
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["terminal", "--tid", "ZZZZ0001", "--card", "EDH-VALID", "--amount", "1"],
            "unknown terminal id(s): ZZZZ0001",
        ),
        (
            ["terminal", "--tid", "DZAL0001", "--card", "NOPE", "--amount", "1"],
            "no card with id 'NOPE'",
        ),
        (
            ["terminal", "--tid", "TNTU0001", "--card", "TN-VALID", "--amount", "1.2345"],
            "more than 3 decimals for TND",
        ),
        (
            ["terminal", "--tid", "DZAL0001", "--card", "EDH-VALID", "--amount", "1e3"],
            "--amount: '1e3' is not an amount",
        ),
        (
            [
                "terminal",
                "--tid",
                "DZAL0001",
                "--card",
                "EDH-VALID",
                "--amount",
                "10",
                "--cash-back",
                "5E2",
            ],
            "--cash-back: '5E2' is not an amount",
        ),
        (
            ["terminal", "--tid", "DZAL0001", "--card", "EDH-VALID", "--amount", "10000000000"],
            "--amount: '10000000000' is too large an amount",
        ),
        (
            ["terminal", "--tid", "DZAL0001", "--card", "EDH-VALID", "--amount", "0,00"],
            "--amount: the amount must be above zero",
        ),
        (
            ["terminal", "--tid", "DZAL0001", "--card", "EDH-VALID", "--amount", "1 5"],
            "--amount: '1 5' is not an amount",
        ),
        (
            ["terminal", "--tid", "DZAL0001", "--card", "EDH-VALID", "--balance", "--amount", "1"],
            "--balance takes no --amount nor --cash-back",
        ),
        (
            ["terminal", "--tid", "DZAL0001", "--card", "EDH-VALID", "--cash-back", "5"],
            "--cash-back goes with --amount",
        ),
        (["ledger", "check", "--db", "/nonexistent/ledger.db"], "no ledger database"),
        (["ledger", "check", "--db", "/"], "no ledger database at /"),
        (
            ["ledger", "check", "--db", "postgresql://nobody@127.0.0.1:1/x"],
            "cannot connect to postgresql://nobody@127.0.0.1:1/x",
        ),
        (
            [
                "terminal",
                "--tid",
                "DZAL0001",
                "--card",
                "EDH-VALID",
                "--amount",
                "9999999999,99",
                "--cash-back",
                "0,01",
            ],
            "--amount with --cash-back is above 999999999999",
        ),
        (
            ["cards", "block", "EDH-VALID", "--db", "/etc/passwd", "--actor", "a\nb"],
            "/etc/passwd is not a tpesim ledger",
        ),
        (["cards", "history", "--db", "/etc/passwd"], "/etc/passwd is not a tpesim ledger"),
        (
            ["cards", "set-balance", "EDH-VALID", "99999999999999999999", "--db", "/etc/passwd"],
            "/etc/passwd is not a tpesim ledger",
        ),
        (
            [
                "terminal",
                "--tid",
                "DZAL0001",
                "--card",
                "EDH-VALID",
                "--amount",
                "10",
                "--state",
                "/",
            ],
            "state file /",
        ),
        (
            [
                "terminal",
                "--broker",
                "mqtt://127.0.0.1:1",
                "--tid",
                "DZAL0001",
                "--card",
                "EDH-VALID",
                "--amount",
                "10",
                "--state",
                "/tmp/tpesim-test-unreachable.json",
            ],
            "cannot connect to mqtt://127.0.0.1:1",
        ),
        (["demo", "--broker", "http://x"], "use mqtt://host:port, or mqtts://"),
        (["demo", "--broker", "/nonexistent/access.json"], "access file /nonexistent/access.json"),
    ],
)
async def test_bad_arguments_get_a_clear_message(args: list[str], message: str) -> None:
    """Mistakes are named on stderr with a non-zero status, never a traceback."""
    status, _, err = await tpesim(*args)
    assert status == 2
    assert message in err
    assert "Traceback" not in err


async def test_cards_list_shows_the_test_cards() -> None:
    """`tpesim cards list` prints every test card with its PAN and status."""
    status, out, _ = await tpesim("cards", "list")
    assert status == 0
    assert "EDH-PIN-TRIES" in out and "6280580610061318" in out and "pin_tries_exceeded" in out
    status, out, _ = await tpesim("cards", "list", "--json")
    assert len(json.loads(out)) == len(default_card_set().cards)


async def test_back_to_back_runs_continue_stan_and_atc(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Two `tpesim terminal` runs in the same second on one TID: both approved (no 94 from a
    reused STAN, no 05 from a replayed ATC) because the device state carries over."""
    term = f"terminal --broker {mosquitto.url} --state {tmp_path / 'devices.json'}"
    buy = f"{term} --tid DZSE0001 --card EDH-VALID --amount 10 --json"
    async with running_switch(
        broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=default_card_set(),
        registry=default_registry(), magic=magic_amounts(),
    ):  # fmt: skip
        first, second = [json.loads((await tpesim(*buy.split()))[1]) for _ in range(2)]
    assert (first["response"], second["response"]) == ("00", "00")
    assert second["stan"] > first["stan"]
    state = json.loads((tmp_path / "devices.json").read_text())
    assert state["chips"]["EDH-VALID"] == 2
    assert state["stans"]["DZSE0001"] == second["stan"] + 1


async def test_parallel_runs_share_the_state_file_without_losing_a_terminal(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Issue 20, item 5: four `tpesim terminal` runs at once on four terminals, one card, one
    state file: all approved (no 05 from an ATC drawn twice), every terminal's next STAN kept,
    the card's counter at four; a run on a terminal another run drives is refused in one line
    and sends nothing."""
    state = tmp_path / "devices.json"
    term = f"terminal --broker {mosquitto.url} --state {state}"
    tids = ("DZAL0002", "DZOR0002", "DZSE0002", "DZCO0002")
    async with running_switch(
        broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=default_card_set(),
        registry=default_registry(), magic=magic_amounts(),
    ) as switch:  # fmt: skip
        runs = await asyncio.gather(*(
            tpesim(*f"{term} --tid {tid} --card CIB-VALID --amount 10 --json".split())
            for tid in tids
        ))  # fmt: skip
        for status, out, err in runs:
            assert status == 0, err
            assert json.loads(out)["response"] == "00", out
        kept = json.loads(state.read_text())
        assert kept["chips"]["CIB-VALID"] == len(tids)
        assert {tid: kept["stans"][tid] for tid in tids} == {
            tid: json.loads(out)["stan"] + 1 for tid, (_, out, _) in zip(tids, runs, strict=True)
        }
        lock = (tmp_path / "devices.json.DZAL0002.lock").open("w")
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process drives DZAL0002
        before = sum(switch.processor.stats.requests.values())
        status, _, err = await tpesim(
            *f"{term} --tid DZAL0002 --card CIB-VALID --amount 10".split()
        )
        lock.close()
        assert status == 2 and err.startswith("tpesim: error: terminal DZAL0002 is being driven")
        assert len(err.strip().splitlines()) == 1
        assert sum(switch.processor.stats.requests.values()) == before


async def test_a_card_locked_by_wrong_pins_is_unblocked_from_the_cli(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Issue 20, item 6: three wrong PINs lock CIB-VALID (75, also with the right PIN);
    `tpesim cards unblock` on the running switch's ledger lets it pay again, and `tpesim cards
    history` shows who did it and why."""
    db = tmp_path / "ledger.db"
    term = f"terminal --broker {mosquitto.url} --state {tmp_path / 'devices.json'} --tid DZAL0003"
    async with running_switch(
        broker=mosquitto.url, db_path=db, cards=default_card_set(),
        registry=default_registry(), magic=magic_amounts(),
    ):  # fmt: skip
        codes = []
        for pin in ("0000", "9999", "1111", None):
            chosen = f" --pin {pin}" if pin else ""
            _, out, err = await tpesim(
                *f"{term} --card CIB-VALID --amount 10 --json{chosen}".split()
            )
            codes.append(json.loads(out)["response"])
        assert codes == ["55", "55", "75", "75"]
        unblock = ["cards", "unblock", "CIB-VALID", "--db", str(db), "--reason", "holder called"]
        status, out, err = await tpesim(*unblock, "--actor", "agent-7")
        assert status == 0, err
        assert "CIB-VALID unblock by agent-7" in out
        _, out, _ = await tpesim(*f"{term} --card CIB-VALID --amount 10 --json".split())
        assert json.loads(out)["response"] == "00"
    status, out, _ = await tpesim("cards", "history", "CIB-VALID", "--db", str(db), "--json")
    assert status == 0
    assert json.loads(out) | {"at": ""} == {"card": "CIB-VALID", "action": "unblock",
                                           "detail": {"reason": "holder called"},
                                           "actor": "agent-7", "at": ""}  # fmt: skip
    status, _, err = await tpesim("cards", "set-balance", "CIB-VALID", "-5", "--db", str(db))
    assert status == 2 and err.startswith("tpesim: error: set-balance: '-5' is not an amount")


async def test_balance_inquiry_and_cash_back_from_the_cli(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """`--cash-back` adds cash to a purchase (DE4 the total); `--balance` asks what is left."""
    term = f"terminal --broker {mosquitto.url} --state {tmp_path / 'devices.json'} --tid DZAL0001"
    async with running_switch(
        broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=default_card_set(),
        registry=default_registry(), magic=magic_amounts(),
    ):  # fmt: skip
        _, out, _ = await tpesim(
            *f"{term} --card EDH-VALID --amount 15 --cash-back 20 --json".split()
        )
        sale = json.loads(out)
        status, receipt, _ = await tpesim(*f"{term} --card EDH-VALID --balance".split())
    assert (sale["response"], sale["amount"], sale["cash_back"]) == ("00", 3_500, 2_000)
    assert status == 0 and "SOLDE DISPONIBLE" in receipt and "149 965,00 DA" in receipt


async def test_the_cancel_key_from_the_cli(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    """`--void` cancels the terminal's last approved sale, remembered in the state file across
    runs: the money is back; a second `--void` has nothing left to cancel."""
    term = f"terminal --broker {mosquitto.url} --state {tmp_path / 'devices.json'} --tid DZAL0001"
    async with running_switch(
        broker=mosquitto.url, db_path=tmp_path / "ledger.db", cards=default_card_set(),
        registry=default_registry(), magic=magic_amounts(),
    ) as switch:  # fmt: skip
        sale = json.loads((await tpesim(*f"{term} --card EDH-VALID --amount 15 --json".split()))[1])
        status, receipt, err = await tpesim(*f"{term} --void".split())
        again = await tpesim(*f"{term} --void".split())
        available = await switch.processor.ledger.available("CCP-0001001")
    assert sale["response"] == "00"
    assert status == 0, err
    assert "ANNULATION ACCEPTEE" in receipt and "15,00 DA" in receipt
    assert available == 15_000_000
    assert again[0] == 2 and "nothing to void" in again[2]
