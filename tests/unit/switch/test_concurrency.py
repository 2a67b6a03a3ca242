"""Many requests at once: group commit, per-terminal and per-card order, on real SQLite."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from cards import default_card_set
from switch import Processor
from switch.ledger import check_ledger
from switch.ledger.errors import DuplicateRequestError, LedgerUnavailableError
from switch.ledger.sqlite.group import GroupCommit
from switch.ordering import OrderedKeys
from switch.rules.issuers import IssuerHosts, IssuerState, Routing
from terminal import CardPresentation, RequestBuilder
from tests.chips import chip_purchase
from tests.ledgers import sqlite_ledger
from wire import default_registry
from wire.protocol import encode, topics

CARDS = default_card_set()
REGISTRY = default_registry()
DZ_TERMINALS = [p for p in REGISTRY.terminals() if p.country.code == "DZ"]


def card(card_id: str) -> CardPresentation:
    return CardPresentation.from_card(CARDS.card(card_id), CARDS)


async def signed_on(processor: Processor, count: int) -> list[RequestBuilder]:
    """``count`` Algerian terminals, signed on."""
    builders = [RequestBuilder(profile) for profile in DZ_TERMINALS[:count]]
    assert len(builders) == count
    for build in builders:
        reply = await processor.process(
            topics.request(build.profile.tid), encode(build.sign_on(processor.clock.now()))
        )
        assert reply is not None and reply.response_code == "00"
    return builders


def code_of(payload: bytes) -> str:
    return str(json.loads(payload)["39"])


async def test_concurrent_requests_share_commits_and_each_is_durable(
    processor: Processor,
) -> None:
    """Purchases of many cards at many terminals at once: every one approved and stored, in
    fewer commits than events, and the ledger checks out."""
    builders = await signed_on(processor, 4)
    everyday = ["EDH-VALID", "EDH-VALID-2", "EDH-VALID-3", "CIB-VALID", "CIB-VALID-2"]
    now = processor.clock.now()
    requests = [
        (build.profile.tid, encode(chip_purchase(build, card(card_id), 1_000, now)))
        for _ in range(5)
        for build in builders
        for card_id in everyday
    ]
    groups_before = sqlite_ledger(processor.ledger).writes.groups
    replies = await asyncio.gather(
        *(processor.process(topics.request(tid), payload) for tid, payload in requests)
    )
    assert [r.response_code if r else None for r in replies] == ["00"] * len(requests)
    committed = sqlite_ledger(processor.ledger).writes.groups - groups_before
    assert 1 <= committed < len(requests)
    report = check_ledger(sqlite_ledger(processor.ledger).path)
    assert report.ok and report.postings >= len(requests)


async def test_one_card_at_many_terminals_is_decided_in_turn(processor: Processor) -> None:
    """With the issuer down, the switch stands in for at most 3 purchases a day per Edahabia
    card: six terminals presenting the same card at once get exactly three approvals, in the
    order the requests arrived (each decision sees the one before it)."""
    builders = await signed_on(processor, 6)
    processor.issuers.set("algerie-poste", IssuerState.DOWN)
    now = processor.clock.now()
    replies = await asyncio.gather(
        *(
            processor.process(
                topics.request(b.profile.tid),
                encode(chip_purchase(b, card("EDH-VALID"), 10_000, now)),
            )
            for b in builders
        )
    )
    assert [r.response_code if r else None for r in replies] == ["00"] * 3 + ["91"] * 3
    assert len(processor.turns) == 0  # every key let go


async def test_a_slow_issuer_holds_up_only_its_own_cards(processor: Processor) -> None:
    """While the CIB issuer takes its time, an Edahabia purchase sent after a CIB one is
    answered; the CIB one is answered once the issuer's latency has passed. The latency is
    held on an event, not on the real clock, so nothing here races the machine's load."""
    cib, edahabia = await signed_on(processor, 2)
    processor.issuers.set("banque-cib", IssuerState.SLOW, 0.5)
    waits: list[float] = []
    latency_over = asyncio.Event()

    async def slow_issuer(seconds: float) -> None:
        waits.append(seconds)
        await latency_over.wait()

    processor.purchases.issuer_wait = slow_issuer
    now = processor.clock.now()
    slow = asyncio.create_task(
        processor.process(
            topics.request(cib.profile.tid),
            encode(chip_purchase(cib, card("CIB-VALID"), 1_000, now)),
        )
    )
    async with asyncio.timeout(10):  # a guard only: were it held up too, it would never end
        fast = await processor.process(
            topics.request(edahabia.profile.tid),
            encode(chip_purchase(edahabia, card("EDH-VALID"), 1_000, now)),
        )
    assert fast is not None and fast.response_code == "00"
    assert waits == [0.5] and not slow.done()
    latency_over.set()
    reply = await slow
    assert reply is not None and reply.response_code == "00"


async def test_ordered_keys_are_first_come_first_served() -> None:
    """Holders of one key run one at a time in arrival order; another key does not wait."""
    keys = OrderedKeys()
    log: list[str] = []
    release = asyncio.Event()

    async def hold(name: str, wanted: list[str], wait: bool) -> None:
        async with keys.holding(wanted):
            log.append(f"{name} in")
            if wait:
                await release.wait()
            log.append(f"{name} out")

    first = asyncio.create_task(hold("a", ["tid:1", "card:x"], True))
    queued = [asyncio.create_task(hold(n, ["tid:2", "card:x"], False)) for n in "bc"]
    other = asyncio.create_task(hold("d", ["tid:3", "card:y"], False))
    await other
    assert log == ["a in", "d in", "d out"]
    release.set()
    await asyncio.gather(first, *queued)
    assert log[3:] == ["a out", "b in", "b out", "c in", "c out"]
    assert len(keys) == 0


async def test_a_refused_event_leaves_the_rest_of_its_group(tmp_path: Path) -> None:
    """An event that fails rolls back to its own savepoint; the others of its group commit."""
    async with aiosqlite.connect(
        tmp_path / "g.db", isolation_level=None, check_same_thread=False
    ) as db:
        await db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        writes = GroupCommit(db, tmp_path / "g.db", lambda conn: lambda: None)

        def insert(number: int, key: str) -> Callable[[sqlite3.Connection], None]:
            def work(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO t VALUES (?)", (f"event {number}",))
                try:
                    conn.execute("INSERT INTO t VALUES (?)", (key,))
                except sqlite3.IntegrityError as error:
                    raise DuplicateRequestError(str(error)) from None

            return work

        results = await asyncio.gather(
            *(writes.grouped(insert(n, k)) for n, k in enumerate("abac", 1)),
            return_exceptions=True,
        )
        refused = [type(r).__name__ for r in results]
        assert refused == ["NoneType", "NoneType", "DuplicateRequestError", "NoneType"]
        async with db.execute("SELECT k FROM t ORDER BY k") as cursor:
            rows = [r[0] for r in await cursor.fetchall()]
        assert rows == ["a", "b", "c", "event 1", "event 2", "event 4"]
        assert writes.groups < 4 and writes.events == 3


async def test_a_group_that_cannot_commit_stores_nothing_and_says_so(tmp_path: Path) -> None:
    """A COMMIT that fails (here a deferred constraint) fails every event of the group with
    LedgerUnavailableError, undoes the group's in-memory effects and leaves the next group
    free to commit."""
    async with aiosqlite.connect(
        tmp_path / "g.db", isolation_level=None, check_same_thread=False
    ) as db:
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await db.execute("CREATE TABLE child (parent INTEGER REFERENCES parent (id) "
                         "DEFERRABLE INITIALLY DEFERRED)")  # fmt: skip
        undone: list[int] = []
        writes = GroupCommit(db, tmp_path / "g.db", lambda conn: lambda: undone.append(1))
        results = await asyncio.gather(
            writes.grouped(lambda conn: conn.execute("INSERT INTO parent VALUES (1)")),
            writes.grouped(lambda conn: conn.execute("INSERT INTO child VALUES (99)")),
            return_exceptions=True,
        )
        assert all(isinstance(r, LedgerUnavailableError) for r in results)
        assert undone == [1]
        await writes.grouped(lambda conn: conn.execute("INSERT INTO parent VALUES (2)"))
        async with db.execute("SELECT id FROM parent") as cursor:
            assert [r[0] for r in await cursor.fetchall()] == [2]


class _DownOnceAsked(IssuerHosts):
    """Issuers that go down the moment a request has been routed to them."""

    def route(self, issuer: str) -> Routing:
        routing = super().route(issuer)
        self.set(issuer, IssuerState.DOWN)
        return routing


async def test_the_trace_names_who_decided_when_it_decided(processor: Processor) -> None:
    """An issuer that goes down after it was asked still decided the request: the reply says
    ``issuer:``, not ``stand-in:``."""
    (build,) = await signed_on(processor, 1)
    processor.issuers = processor.purchases.issuers = _DownOnceAsked()
    reply = await processor.process(
        topics.request(build.profile.tid),
        encode(chip_purchase(build, card("CIB-VALID"), 1_000, processor.clock.now())),
    )
    assert reply is not None and reply.response_code == "00"
    assert reply.route == "issuer:banque-cib"
    assert processor.issuers.state("banque-cib") is IssuerState.DOWN
