"""A ledger that can be copied (issue 21): ``ledger.db`` alone after a clean stop, and
`tpesim ledger backup` while the switch writes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards import default_card_set
from switch import Processor
from switch.ledger import Ledger
from terminal import CardPresentation, RequestBuilder
from tests.cli_process import tpesim
from wire import ManualClock, default_registry, magic_amounts
from wire.protocol import encode, topics

pytestmark = pytest.mark.integration

CARDS = default_card_set()
TID = "DZAL0001"


@asynccontextmanager
async def _switch(db: Path) -> AsyncIterator[tuple[Processor, RequestBuilder]]:
    """The switch's processing on the SQLite ledger ``db`` (no broker), its terminal signed on;
    the ledger closed cleanly on exit."""
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    profile = default_registry().get(TID)
    assert profile is not None
    build = RequestBuilder(profile)
    async with await Ledger.open(db, CARDS, clock) as ledger:
        processor = Processor(ledger=ledger, cards=CARDS, registry=default_registry(),
                              clock=clock, magic=magic_amounts())  # fmt: skip
        await processor.process(topics.request(TID), encode(build.sign_on(clock.now())))
        yield processor, build


async def _sell(processor: Processor, build: RequestBuilder) -> int:
    """One 1 DA chip sale of EDH-VALID, answered (so committed); its STAN."""
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    request = build.purchase(card, 100, processor.clock.now())
    reply = await processor.process(topics.request(TID), encode(request))
    assert reply is not None
    return request.stan


def _sales(db: Path) -> list[int]:
    """The STANs of the 0200s the ledger at ``db`` has answered, in order."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as reader:
        rows = reader.execute("SELECT stan FROM requests WHERE mti = '0200' ORDER BY stan")
        return [stan for (stan,) in rows]


async def test_a_cleanly_stopped_ledger_is_whole_in_its_db_file(tmp_path: Path) -> None:
    """Sales, then a clean stop while another connection still has the ledger open (`tpesim
    serve --attach` watching it): ``ledger.db`` copied alone holds every sale and passes
    `tpesim ledger check` (the WAL was checkpointed at close, not left beside it)."""
    db = tmp_path / "ledger.db"
    async with _switch(db) as (processor, build):
        stans = [await _sell(processor, build) for _ in range(3)]
        watcher = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        watcher.execute("SELECT count(*) FROM transfers").fetchone()
    try:
        (tmp_path / "copy").mkdir()
        copy = Path(shutil.copy(db, tmp_path / "copy" / "ledger.db"))
        status, out, err = await tpesim("ledger", "check", "--db", str(copy), "--json")
    finally:
        watcher.close()
    assert status == 0, err
    assert json.loads(out)["ok"] and _sales(copy) == stans


async def test_a_backup_taken_while_the_switch_writes_is_a_consistent_prefix(
    tmp_path: Path,
) -> None:
    """`tpesim ledger backup` while sales are being committed one after another: the copy
    passes `tpesim ledger check` and holds exactly the first k sales (no gap, none half
    there), with sales committed both before and after it was taken."""
    db, backup = tmp_path / "ledger.db", tmp_path / "backup" / "ledger-copy.db"
    backup.parent.mkdir()
    committed: list[int] = []
    async with _switch(db) as (processor, build):
        enough, sold, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            while not stop.is_set():
                committed.append(await _sell(processor, build))
                sold.set()
                if len(committed) >= 5:
                    enough.set()

        async with asyncio.TaskGroup() as group:
            group.create_task(writer(), name="writer")
            await enough.wait()
            status, out, err = await tpesim("ledger", "backup", "--db", str(db),
                                            "--out", str(backup), "--json")  # fmt: skip
            after_backup = len(committed)
            sold.clear()
            await sold.wait()  # one more sale committed after the copy was taken
            stop.set()
    assert status == 0, err
    assert json.loads(out)["out"] == str(backup)
    status, report, err = await tpesim("ledger", "check", "--db", str(backup), "--json")
    assert status == 0, report + err
    kept = _sales(backup)
    assert 5 <= len(kept) <= after_backup < len(committed)
    assert kept == committed[: len(kept)]
    assert not list(backup.parent.glob("*-wal")) and _sales(db) == committed


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.db", "no ledger database at {tmp}/missing.db"),
        ("notes.txt", "{tmp}/notes.txt is not a tpesim ledger"),
        ("ledger.db", "{tmp}/copy.db exists; remove it, or add --force to replace it"),
        ("postgresql://u:secret@db.example/x", "back up this PostgreSQL one with pg_dump"),
    ],
)
async def test_a_backup_that_cannot_be_made_is_one_line_and_writes_nothing(
    tmp_path: Path, source: str, message: str
) -> None:
    """A missing or foreign --db, an --out that exists, a PostgreSQL URL: exit status 2, one
    line `tpesim: error: ...` (no password shown), nothing written or replaced."""
    async with _switch(tmp_path / "ledger.db") as (processor, build):
        await _sell(processor, build)
    (tmp_path / "notes.txt").write_text("not a ledger\n", encoding="utf-8")
    (tmp_path / "copy.db").write_bytes(b"an older copy")
    where = source if source.startswith("postgresql") else str(tmp_path / source)
    status, out, err = await tpesim("ledger", "backup", "--db", where,
                                    "--out", str(tmp_path / "copy.db"))  # fmt: skip
    assert (status, out) == (2, "")
    assert err.startswith("tpesim: error: ") and len(err.splitlines()) == 1
    assert message.format(tmp=tmp_path) in err and "secret" not in err
    assert (tmp_path / "copy.db").read_bytes() == b"an older copy"
    assert not [p for p in tmp_path.iterdir() if "copy.db" in p.name and p.name != "copy.db"]
    status, _, err = await tpesim("ledger", "backup", "--db", str(tmp_path / "ledger.db"),
                                  "--out", str(tmp_path / "copy.db"), "--force")  # fmt: skip
    assert status == 0, err
    assert len(_sales(tmp_path / "copy.db")) == 1


async def test_force_never_replaces_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """--force replaces an older copy, never a FIFO or a device (it replaced them before)."""
    async with _switch(tmp_path / "ledger.db") as (processor, build):
        await _sell(processor, build)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    status, _, err = await tpesim("ledger", "backup", "--db", str(tmp_path / "ledger.db"),
                                  "--out", str(fifo), "--force")  # fmt: skip
    assert status == 2 and "is not a regular file" in err, err
    assert fifo.is_fifo()
