"""The examples in the docs are what tpesim accepts and answers: every JSON object of
docs/protocol.md's ```json blocks decodes as the request or response its MTI says, each answer
echoing the request before it (wire.protocol.matching), and a switch answers each request
with the example's response code; every JSON object of
docs/merchant-api.md's is a body of the merchant API, field for field."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from switch import Processor
from terminal import RequestBuilder
from tpesim.api.back_office import CardEventOut
from tpesim.api.models import BatchResult, Payment, PaymentRequest, Problem
from wire import ManualClock
from wire.protocol import decode_request, decode_response, encode, topics
from wire.protocol.errors import RESPONSE_MTIS
from wire.protocol.matching import mismatch
from wire.protocol.messages import IsoMessage, OriginalDataElements

DOCS = Path(__file__).parents[3] / "docs"
PROTOCOL = DOCS / "protocol.md"
_BLOCK = re.compile(r"```json\n(.*?)```", re.S)


def _objects(text: str) -> list[dict[str, Any]]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


BLOCKS = [_objects(block) for block in _BLOCK.findall(PROTOCOL.read_text(encoding="utf-8"))]


def test_protocol_md_has_its_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", range(len(BLOCKS)))
def test_each_example_decodes_and_each_answer_matches_its_request(block: int) -> None:
    """Requests decode as requests, answers as responses and echo the request before them."""
    last: IsoMessage | None = None
    for wire in BLOCKS[block]:
        payload = json.dumps(wire).encode()
        if wire["mti"] in RESPONSE_MTIS.values():
            answer = decode_response(payload)
            assert last is not None and mismatch(last, answer) is None, wire
        else:
            last = decode_request(payload)


def test_the_refund_example_names_the_purchase_example() -> None:
    """The refund example's DE90 names the purchase example (0200, STAN 42, its DE7)."""
    purchase, refund = BLOCKS[0][0], BLOCKS[1][0]
    named = OriginalDataElements.parse(refund["90"])
    assert (named.mti, named.stan, named.transmission_time) == (
        purchase["mti"], int(purchase["11"]), purchase["7"])  # fmt: skip
    assert refund["3"] == "200000" and refund["41"] == purchase["41"]


async def test_the_switch_answers_the_examples_as_the_docs_show(processor: Processor) -> None:
    """Sent in order to a switch (its terminal signed on, its clock at each request's DE7),
    each example request gets exactly the example answer after it."""
    tid = BLOCKS[0][0]["41"]
    profile = processor.registry.get(tid)
    clock = processor.clock
    assert profile is not None and isinstance(clock, ManualClock)
    sign_on = RequestBuilder(profile).sign_on(clock.now())
    await processor.process(topics.request(tid), encode(sign_on))
    for block in BLOCKS:
        request = None
        for wire in block:
            if wire["mti"] not in RESPONSE_MTIS.values():
                request = wire
                continue
            assert request is not None
            sent = datetime.strptime(f"2026{request['7']}", "%Y%m%d%H%M%S").replace(tzinfo=UTC)
            clock.advance((sent - clock.now()).total_seconds())
            reply = await processor.process(topics.request(tid), json.dumps(request).encode())
            assert reply is not None
            assert json.loads(reply.payload) == wire


API_MODELS: list[type[BaseModel]] = [PaymentRequest, Payment, BatchResult, CardEventOut, Problem]


def test_every_merchant_api_example_is_a_body_of_the_api() -> None:
    """Each JSON object in docs/merchant-api.md validates as one of the API's bodies and has
    every field that body has (no field left out of the documented example, none made up)."""
    text = (DOCS / "merchant-api.md").read_text(encoding="utf-8")
    examples = [o for block in _BLOCK.findall(text) for o in _objects(block)]
    assert len(examples) >= 5
    for example in examples:
        fits = []
        for model in API_MODELS:
            aliases = {f.alias or name for name, f in model.model_fields.items()}
            required = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
            complete = model is PaymentRequest or set(example) == aliases
            if set(example) <= aliases and required <= set(example) and complete:
                model.model_validate(example)
                fits.append(model.__name__)
        assert fits, f"no API body is {example}"
