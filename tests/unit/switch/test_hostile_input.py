"""Hostile input through the whole Processor, not only the decoder: Hypothesis mutates real
requests (fields replaced by any JSON value, removed, added, the MTI changed) and sends raw
bytes. Whatever arrives, the switch answers with a well-formed response, never crashes and
never fails inside (96); a message the decoder refuses is answered 30. A fixed budget of
examples, derandomized, so CI runs the same cases every time."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards import default_card_set
from switch import Processor
from switch.ledger import Ledger
from terminal import CardPresentation, RequestBuilder
from wire import ManualClock, default_registry
from wire.magic import magic_amounts
from wire.protocol import FormatError, decode_request, decode_response, encode, topics
from wire.protocol.trace import trace_event

TID = "DZAL0001"
BUDGET = settings(
    max_examples=1_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _seeds() -> list[dict[str, Any]]:
    """Real requests of the terminal, as JSON objects: purchase, sign-on, reversal."""
    profile = default_registry().get(TID)
    assert profile is not None
    build = RequestBuilder(profile)
    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    cards = default_card_set()
    card = CardPresentation.from_card(cards.card("EDH-VALID"), cards)
    purchase = build.purchase(card, 1_500, now)
    batch = build.batch_close([], now)
    messages = (purchase, build.sign_on(now), build.reversal(purchase, now), batch)
    return [json.loads(encode(message)) for message in messages]


SEEDS = _seeds()
FIELDS = sorted({name for seed in SEEDS for name in seed} | {"39", "52", "55", "64", "90", "99"})


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists and objects of ``inner`` JSON values (a named function: Hypothesis reads its
    source to check that it recurses)."""
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    _containers,
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    message = dict(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(FIELDS))
        action = draw(st.sampled_from(("replace", "remove", "digits")))
        if action == "remove":
            message.pop(name, None)
        elif action == "digits":
            message[name] = draw(st.text("0123456789 -.", max_size=30))
        else:
            message[name] = draw(JSON_VALUES)
    return json.dumps(message).encode()


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[asyncio.AbstractEventLoop, Processor]]:
    """One processor (and its event loop) for every example: a ledger per example would make
    the budget a tenth as large."""
    loop = asyncio.new_event_loop()
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    cards = default_card_set()
    with tempfile.TemporaryDirectory() as workdir:
        ledger = loop.run_until_complete(Ledger.open(Path(workdir) / "ledger.db", cards, clock))
        processor = Processor(ledger=ledger, cards=cards, registry=default_registry(),
                              clock=clock, magic=magic_amounts())  # fmt: skip
        try:
            yield loop, processor
        finally:
            loop.run_until_complete(ledger.close())
            loop.close()


def _answered(running: tuple[asyncio.AbstractEventLoop, Processor], payload: bytes) -> str:
    """Send ``payload`` on the terminal's topic; its response code, after checking the reply."""
    loop, processor = running
    reply = loop.run_until_complete(processor.process(topics.request(TID), payload))
    assert reply is not None
    decode_response(reply.payload)
    assert reply.response_code != "96", payload
    assert processor.stats.internal_errors == 0
    try:
        decode_request(payload)
    except FormatError:
        assert reply.response_code == "30", payload
    return reply.response_code


@BUDGET
@given(payload=mutated())
def test_mutated_requests_get_an_answer_never_a_crash(
    running: tuple[asyncio.AbstractEventLoop, Processor], payload: bytes
) -> None:
    _answered(running, payload)


@BUDGET
@given(payload=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_raw_bytes_get_a_format_error(
    running: tuple[asyncio.AbstractEventLoop, Processor], payload: bytes
) -> None:
    assert _answered(running, payload) == "30"


NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def _nested(depth: int) -> list[bytes]:
    """Payloads under 8 KiB nested ``depth`` deep: an array, an object (up to 1 300 deep, as
    8 KiB allows), a request's DE43."""
    objects = min(depth, 1_300)
    return [
        b"[" * depth + b"]" * depth,
        b'{"a":' * objects + b"1" + b"}" * objects,
        b'{"mti":"0200","11":"000001","43":' + b"[" * depth + b"]" * depth + b"}",
    ]


@pytest.mark.parametrize("depth", [100, 500, 990, 2000, 3000])
def test_deeply_nested_json_is_answered_30_and_traced(
    running: tuple[asyncio.AbstractEventLoop, Processor], depth: int
) -> None:
    """Issue 21: nesting past what Python parses gets a 30 like any malformed message, and its
    trace event (what the dashboard shows) is built without a RecursionError, small and flat."""
    for payload in _nested(depth):
        assert len(payload) < 8192
        assert _answered(running, payload) == "30"
        event = json.loads(trace_event("switch", "received", TID, payload, at=NOW))
        assert len(json.dumps(event)) < 2_000
