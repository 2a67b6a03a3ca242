"""Schemathesis against the served OpenAPI document: requests generated from the schema, valid
(positive) and invalid (negative: wrong types, missing or extra fields, out-of-range values),
never get a server error, every answer conforms to the schema (documented status, content type
and body) and an invalid request is refused (4xx). And positive data really succeeds: payments
generated for the test cards that approve, at amounts within their limits, are approved."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import MosquittoProcess
from tpesim.serve import ServeConfig, serve

pytestmark = pytest.mark.integration

EXAMPLES = 25
"""Generated requests per operation and generation mode."""
UNCONSTRAINED = sorted([
    "GET /v1/payments/{payment_id}", "POST /v1/payments/{payment_id}/cancel",
    "POST /v1/payments/{payment_id}/void", "POST /v1/terminals/{terminal_id}/batch",
    "GET /v1/cards/{card_id}/events",
])  # fmt: skip
"""Operations the schema admits no invalid request of: their only input is an id in the path."""


class _ServerThread(threading.Thread):
    """``tpesim serve`` in its own thread and event loop, for a synchronous HTTP client."""

    def __init__(self, config: ServeConfig) -> None:
        super().__init__(daemon=True)
        self.config = config
        self.url = ""
        self.tids: list[str] = []
        self.listening = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()

        def ready(url: str, tids: list[str]) -> None:
            self.url, self.tids = url, tids
            self.listening.set()

        self._task = asyncio.current_task()
        with contextlib.suppress(asyncio.CancelledError):
            await serve(self.config, ready=ready)

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self.join(timeout=30)


def _run_generated(
    operation: Any, mode: GenerationMode, server: _ServerThread, statuses: Counter[tuple[str, int]]
) -> bool:
    """Send ``EXAMPLES`` requests of ``operation`` generated in ``mode``; count their statuses.
    False when the schema admits no invalid request of it (negative mode: every input is an
    unconstrained string, e.g. a payment id)."""
    tids = server.tids

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    def check(case: schemathesis.Case[Any]) -> None:
        size = len(repr(case.body))
        if "terminal_id" in case.path_parameters and size % 2:  # often a real terminal
            case.path_parameters["terminal_id"] = tids[size % len(tids)]
        response = case.call(base_url=server.url, timeout=30)
        statuses[(mode.value, response.status_code)] += 1
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        # A schema-valid body may still be refused (422) by a rule no schema can state:
        # the terminal's own currency, a card that is in the test set.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    try:
        check()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        return False
    return True


def _has_inputs(operation: Any) -> bool:
    """Whether ``operation`` takes anything a request could get wrong."""
    return any(len(part) for part in (operation.path_parameters, operation.query, operation.body))


def test_generated_requests_get_no_server_error(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    # The terminals wait 1 s for an answer on the wall clock: generated amounts include the
    # magic no-answer ones. A payment timed out on a loaded machine is still a 201 (status
    # "timeout"), so the verdict (no 5xx, 422 for bad input) never depends on that clock.
    server = _ServerThread(ServeConfig(port=0, terminals=3, broker=mosquitto.url,
                                       workdir=tmp_path, timeout_s=1.0))  # fmt: skip
    server.start()
    try:
        assert server.listening.wait(60), "tpesim serve did not start"
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        checked = 0
        statuses: Counter[tuple[str, int]] = Counter()
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operations.append(result.ok())
        unconstrained = []
        for operation, mode in itertools.product(operations, GenerationMode):
            if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue  # nothing in the request to get wrong (GET /v1/terminals)
            if _run_generated(operation, mode, server, statuses):
                checked += 1
            else:
                unconstrained.append(operation.label)
        assert len(operations) == 13  # every operation, the back office's included
        assert checked + len(unconstrained) == 13 + 12, unconstrained  # all but one take inputs
        # Those whose only input is an id in the path (any string is an id, a 404 at worst).
        assert sorted(unconstrained) == UNCONSTRAINED, unconstrained
        positive = {code for (mode_, code) in statuses if mode_ == "positive"}
        negative = {code for (mode_, code) in statuses if mode_ == "negative"}
        assert {200, 404, 422} <= positive, statuses  # real terminals were reached too
        assert 422 in negative and not any(200 <= code < 300 for code in negative), statuses
    finally:
        server.stop()


APPROVING = ("EDH-VALID", "EDH-VALID-2", "EDH-VALID-3", "CIB-VALID", "CIB-VALID-2")
"""Test cards that pay at an Algerian terminal (docs/test-cards.md)."""


def test_generated_valid_payments_are_approved(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    """Positive data succeeds: a payment of an approving test card, at an amount within its
    limits and balance that is no magic amount, is approved (201, status approved, 00)."""
    server = _ServerThread(ServeConfig(port=0, terminals=3, broker=mosquitto.url,
                                       workdir=tmp_path, timeout_s=10.0))  # fmt: skip
    server.start()
    approved: list[str] = []
    try:
        assert server.listening.wait(60), "tpesim serve did not start"
        algerian = [tid for tid in server.tids if tid.startswith("DZ")]
        assert algerian, server.tids

        @hypothesis.given(
            card=hypothesis.strategies.sampled_from(APPROVING),
            amount=hypothesis.strategies.integers(1_000, 500_000).filter(
                lambda minor: minor // 100 != 77  # 77,xx DA forces an outcome
            ),
            tid=hypothesis.strategies.sampled_from(algerian),
        )
        @hypothesis.settings(max_examples=15, deadline=None, database=None, derandomize=True)
        def pay(card: str, amount: int, tid: str) -> None:
            body = {"amount_minor": amount, "currency": "DZD", "card_id": card,
                    "idempotency_key": f"positive-{len(approved)}-{card}-{amount}"}  # fmt: skip
            response = httpx.post(f"{server.url}/v1/terminals/{tid}/payments", json=body,
                                  timeout=60)  # fmt: skip
            payment = response.json()
            assert response.status_code == 201, payment
            assert (payment["status"], payment["response_code"]) == ("approved", "00"), payment
            approved.append(payment["id"])

        pay()
        assert len(approved) == 15
    finally:
        server.stop()
