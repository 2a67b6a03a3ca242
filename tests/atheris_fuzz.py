"""Coverage-guided fuzzing (atheris, libFuzzer) of what tpesim reads from outside, where atheris
runs (CPython on Linux x86_64): run by tests/unit/tpesim/test_atheris.py with a fixed budget, or
by hand for longer::

    python -m tests.atheris_fuzz request -runs=1000000 corpus/   # or: iso8583, api

Targets (each fails on any exception it does not expect):

- ``request``: a terminal's JSON payload. ``decode_request`` either gives a request that encodes and
  decodes back to itself, or a :class:`FormatError`, whose format-error answer (30, as the
  switch sends it) is a well-formed response. The bytes read as a topic name a terminal or none.
- ``iso8583``: a terminal's ISO 8583 binary payload, with the same checks (no topic).
- ``api``: a body sent to the merchant API. Each request model either validates it or refuses it
  with a ``ValidationError``, which becomes the 422 problem the API answers.

An empty corpus directory is first filled with real messages (:func:`seed`), so the fuzzer
mutates from what terminals and cash registers send.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["switch", "tpesim", "cards", "terminal"]):
    from pydantic import ValidationError

    from cards import default_card_set
    from terminal import CardPresentation, RequestBuilder
    from tpesim.api.models import CompletionRequest, PaymentRequest, Problem, RefundRequest
    from wire.protocol import topics
    from wire.protocol.codec import (
        Encoding,
        FormatError,
        decode_request,
        decode_response,
        encode,
    )
    from wire.protocol.responses import format_error_response
    from wire.registry import default_registry

TID = "DZAL0001"
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
_API_MODELS = (PaymentRequest, RefundRequest, CompletionRequest)


def _decode_or_answer(data: bytes, encoding: Encoding) -> None:
    """Decode ``data``: a request that encodes and decodes back to itself, or a FormatError
    whose answer (30) is a well-formed response in the same encoding."""
    try:
        request = decode_request(data, encoding)
    except FormatError as error:
        answer = format_error_response(error, TID, NOW)
        back = decode_response(encode(answer, encoding), encoding)
        if back != answer or answer.response_code != "30":
            raise AssertionError(f"a malformed format-error answer: {answer!r}") from error
    else:
        if decode_request(encode(request, encoding), encoding) != request:
            raise AssertionError(f"{request!r} does not survive encode/decode")


def request_target(data: bytes) -> None:
    _decode_or_answer(data, Encoding.JSON)
    topic = data.decode("utf-8", "replace")
    tid = topics.terminal_of_request_topic(topic)
    if tid is not None and topics.request(tid) != topic:
        raise AssertionError(f"topic {topic!r} read as terminal {tid!r}")


def api_target(data: bytes) -> None:
    for model in _API_MODELS:
        try:
            model.model_validate_json(data)
        except ValidationError as error:
            problem = Problem.invalid_request(error.errors())
            if problem.status != 422 or not problem.detail:
                raise AssertionError(f"an empty problem for {data!r}") from error


def iso8583_target(data: bytes) -> None:
    _decode_or_answer(data, Encoding.ISO8583)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "request": request_target,
    "iso8583": iso8583_target,
    "api": api_target,
}


def seed(target: str) -> list[bytes]:
    """Real inputs for ``target``: a terminal's requests, or the API's documented bodies."""
    if target == "api":
        bodies: list[dict[str, object]] = [
            {"amount_minor": 150_000, "currency": "DZD", "card_id": "EDH-VALID",
             "idempotency_key": "order-1"},
            {"amount_minor": 2_500, "currency": "TND", "pan": "6280580000000001", "pin": "1234",
             "entry": "magstripe", "preauth": True, "idempotency_key": "k"},
            {"amount_minor": 100, "idempotency_key": "refund-1"},
            {"amount_minor": 60_000},
        ]  # fmt: skip
        return [json.dumps(body).encode() for body in bodies]
    profile = default_registry().get(TID)
    assert profile is not None
    build = RequestBuilder(profile)
    cards = default_card_set()
    card = CardPresentation.from_card(cards.card("EDH-VALID"), cards)
    purchase = build.purchase(card, 150_000, NOW, ksn="FFFF9876543210E00001")
    purchase = purchase.model_copy(update={"mac": "00" * 8})
    messages = [build.sign_on(NOW), purchase, build.reversal(purchase, NOW), build.echo(NOW)]
    if target == "iso8583":
        return [encode(message, Encoding.ISO8583) for message in messages]
    return [encode(message) for message in messages] + [topics.request(TID).encode()]


def main(argv: list[str]) -> None:
    """``python -m tests.atheris_fuzz TARGET [libFuzzer options] [CORPUS_DIR]``."""
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.atheris_fuzz {{{','.join(TARGETS)}}} [libFuzzer args]")
    target, options = argv[1], argv[2:]
    for corpus in (Path(arg) for arg in options if not arg.startswith("-")):
        corpus.mkdir(parents=True, exist_ok=True)
        if not any(corpus.iterdir()):
            for number, data in enumerate(seed(target)):
                (corpus / f"seed-{number}").write_bytes(data)
    atheris.Setup([argv[0], *options], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
