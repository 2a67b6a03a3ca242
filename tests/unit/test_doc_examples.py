"""The wire examples in docs/protocol.md are messages the switch and terminals accept: every
JSON object of its ```json blocks decodes as the request or response its MTI says, and each
answer echoes the request before it (switch.protocol.matching)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from switch.protocol import decode_request, decode_response
from switch.protocol.errors import RESPONSE_MTIS
from switch.protocol.matching import mismatch
from switch.protocol.messages import IsoMessage, OriginalDataElements

PROTOCOL = Path(__file__).parents[2] / "docs" / "protocol.md"
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
