"""Issue 21: every failure of the command line is one line on stderr, ``tpesim: error: ...``,
with the exit code docs/cli.md gives (2 usage or infrastructure, 1 a decline or timeout), run
as a user would (``python -m tpesim``) against a real Mosquitto. On 8711cbc most of these
printed 35-67 lines of traceback, and a sign-on refused with 96 exited 0 in silence."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path

import pytest

from cards import default_card_set
from switch.startup import running_switch
from tests.cli_process import tpesim
from tests.conftest import MosquittoProcess
from tests.mqtt_helpers import next_on, observer
from tpesim.broker.launcher import free_port
from wire import default_registry, magic_amounts
from wire.protocol import topics

pytestmark = pytest.mark.integration


@asynccontextmanager
async def _switch(mosquitto: MosquittoProcess, db: Path) -> AsyncIterator[None]:
    async with running_switch(broker=mosquitto.url, db_path=db, cards=default_card_set(),
                              registry=default_registry(), magic=magic_amounts()):  # fmt: skip
        yield


@asynccontextmanager
async def _shared_switch(mosquitto: MosquittoProcess, db: Path) -> AsyncIterator[None]:
    async with running_switch(broker=mosquitto.url, db_path=db, cards=default_card_set(),
                              registry=default_registry(), magic=magic_amounts(), shared=True,
                              client_id="w1", persistent=False):  # fmt: skip
        yield


@asynccontextmanager
async def _refusing_sign_on(mosquitto: MosquittoProcess, _db: Path) -> AsyncIterator[None]:
    """A switch that answers every sign-on 96 (its ledger, say, is unavailable)."""
    async with observer(mosquitto.url, topics.REQUEST_FILTER) as (client, requests):

        async def answer() -> None:
            while True:
                message = await requests.get()
                request = json.loads(message.payload)
                tid = request["41"]
                reply = {key: request[key] for key in ("7", "11", "41", "70")}
                reply |= {"mti": "0810", "39": "96", "44": "system malfunction"}
                await client.publish(topics.response(tid), json.dumps(reply).encode())

        task = asyncio.create_task(answer())
        try:
            yield
        finally:
            task.cancel()


def _not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("not a database\n")
    return path


def _damaged_state(tmp_path: Path) -> Path:
    path = tmp_path / "damaged.json"
    path.write_text("{")
    return path


Setup = Callable[[MosquittoProcess, Path], AbstractAsyncContextManager[None]]
NOTHING: Setup = lambda _m, _db: nullcontext()  # noqa: E731

# (what goes wrong, setup, the command (formatted with broker, db, tmp), exit code, the line)
CASES: list[tuple[str, Setup, str, int, str]] = [
    ("no switch running", NOTHING,
     "terminal --broker {broker} --state {tmp}/s.json --card EDH-VALID --amount 10 --timeout 1",
     2, "DZAL0001: no switch answering on mqtt://127.0.0.1:{port}: is `tpesim switch` running?"),
    ("a wrong --broker", NOTHING,
     "terminal --broker mqtt://127.0.0.1:{closed} --state {tmp}/s.json --card EDH-VALID "
     "--amount 10", 2, "cannot connect to mqtt://127.0.0.1:{closed}"),
    ("a sign-on refused 96", _refusing_sign_on,
     "terminal --broker {broker} --state {tmp}/s.json --card EDH-VALID --amount 10",
     2, "DZAL0001: the switch refused the sign-on (96 "),
    ("a decline", _switch,
     "terminal --broker {broker} --state {tmp}/s.json --card EDH-NO-FUNDS --amount 1500 --json",
     1, ""),
    ("a damaged state file", NOTHING,
     "terminal --broker {broker} --state {damaged} --card EDH-VALID --amount 10",
     2, "state file {damaged} is not tpesim's JSON"),
    ("a switch on a file that is not a database", NOTHING,
     "switch --broker {broker} --db {notdb}", 2, "cannot open the ledger {notdb}: file is not a"),
    ("a check of a file that is not a database", NOTHING,
     "ledger check --db {notdb}", 2, "{notdb} is not a tpesim ledger"),
    ("an unreachable PostgreSQL", NOTHING,
     "switch --broker {broker} --db postgresql://postgres@127.0.0.1:{closed}/tpesim", 2,
     "cannot open the ledger postgresql://postgres@127.0.0.1:{closed}/tpesim"),
    ("a switch that cannot reach its broker", NOTHING,
     "switch --broker mqtt://127.0.0.1:{closed} --db {db}", 2,
     "cannot connect to mqtt://127.0.0.1:{closed}"),
    ("a second switch on the broker", _switch,
     "switch --broker {broker} --db {tmp}/other.db", 2,
     "another switch is online on mqtt://127.0.0.1:{port}: switch tpesim-switch, pid "),
    ("shared workers beside a switch serving alone", _switch,
     "switch --broker {broker} --db {tmp}/other.db --client-id second --shared", 2,
     "a switch serving alone is online on mqtt://127.0.0.1:{port}: switch tpesim-switch"),
    ("--shared workers on another ledger", _shared_switch,
     "switch --broker {broker} --db {tmp}/other.db --client-id w2 --shared", 2,
     "the --shared workers online on mqtt://127.0.0.1:{port} serve the ledger {db}, not "),
    ("a bad option value", NOTHING, "terminal --terminals 0", 2,
     "argument --terminals: must be at least 1 (see tpesim terminal --help)"),
    ("a broker URL typo", NOTHING, "terminal --broker mqtt//x --amount 1 --card EDH-VALID", 2,
     "argument --broker: broker URL 'mqtt//x': a broker URL has no path"),
    ("a card without an amount", NOTHING,
     "terminal --broker {broker} --state {tmp}/s.json --card EDH-VALID", 2,
     "--card goes with --amount or --balance"),
    ("a missing card set file", NOTHING, "cards list --cards {tmp}/missing.yaml", 2,
     "[Errno 2] No such file or directory: '{tmp}/missing.yaml'"),
    ("a full disk", NOTHING, "cards list >/dev/full", 2, "[Errno 28] No space left on device"),
    ("a decode of a file that is not there", NOTHING, "decode {tmp}/nothing.bin", 2,
     "no file {tmp}/nothing.bin (give hex digits, a file, or - for stdin)"),
    ("a second switch on the ledger", _switch,
     "switch --broker mqtt://127.0.0.1:{closed} --db {db} --client-id second", 2,
     "the ledger {db} is in use by switch tpesim-switch, pid "),
]  # fmt: skip


@pytest.mark.parametrize(("setup", "command", "code", "line"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])  # fmt: skip
async def test_each_failure_is_one_line_and_its_exit_code(
    mosquitto: MosquittoProcess,
    tmp_path: Path,
    setup: Setup,
    command: str,
    code: int,
    line: str,
) -> None:
    db = tmp_path / "ledger.db"
    names = {"broker": mosquitto.url, "port": mosquitto.port, "closed": free_port(),
             "db": db, "tmp": tmp_path, "notdb": _not_a_database(tmp_path),
             "damaged": _damaged_state(tmp_path)}  # fmt: skip
    arguments = [part.format(**names) for part in command.split()]
    stdout = None
    if arguments[-1].startswith(">"):
        stdout = arguments.pop()[1:]
    async with setup(mosquitto, db):
        status, _out, err = await tpesim(*arguments, stdout=stdout)
    assert status == code, err
    if code == 1:
        assert err == ""
        return
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tpesim: error: " + line.format(**names)), err


async def test_a_failed_switch_start_leaves_no_ledger_behind(tmp_path: Path) -> None:
    """The broker cannot be reached: the switch exits 2 and the ledger file it would have
    created does not exist (on 8711cbc an empty ledger was left behind)."""
    db = tmp_path / "ledger.db"
    status, _out, err = await tpesim("switch", "--broker", f"mqtt://127.0.0.1:{free_port()}",
                                     "--db", str(db))  # fmt: skip
    assert status == 2, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


async def test_debug_shows_the_traceback(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    """--debug: the same one line at the end, the traceback before it."""
    path = _not_a_database(tmp_path)
    status, _out, err = await tpesim("--debug", "switch", "--db", str(path), "--broker",
                                     str(mosquitto.url))  # fmt: skip
    assert status == 2
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("tpesim: error: cannot open the ledger")


async def test_a_reader_that_went_away_ends_it_quietly() -> None:
    """`tpesim cards list | head -1`: the pipe closes; no traceback, no 'internal error', 141
    as a shell reports a command ended by SIGPIPE (exit 3 and a line on 8711cbc's successor)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        status, _out, err = await tpesim("cards", "list", stdout=write_end)
    finally:
        os.close(write_end)
    assert (status, err) == (141, "")


async def test_ctrl_c_cuts_a_terminal_run_short_with_130(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Ctrl-C during seeded traffic: exit 130, not 0 (which a script reads as all approved)."""
    async with (
        _switch(mosquitto, tmp_path / "ledger.db"),
        observer(mosquitto.url, topics.TRACE_FILTER) as (_, traces),
    ):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpesim", "terminal", "--broker", str(mosquitto.url),
            "--state", str(tmp_path / "s.json"), "--transactions", "100000",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await next_on(traces, None, within=30)  # it is selling
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _, err = await process.communicate()
    assert process.returncode == 130, err
