"""Schemathesis against the served OpenAPI document: requests generated from the schema (valid
and invalid bodies, paths, ids) never get a server error, and every answer conforms to the
schema (documented status, content type and body)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import MosquittoProcess
from tpesim.serve import ServeConfig, serve

pytestmark = pytest.mark.integration

EXAMPLES = 25
"""Generated requests per operation."""


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


def test_generated_requests_get_no_server_error(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    server = _ServerThread(ServeConfig(port=0, terminals=3, broker=mosquitto.url,
                                       workdir=tmp_path, timeout_s=1.0))  # fmt: skip
    server.start()
    try:
        assert server.listening.wait(60), "tpesim serve did not start"
        tids = server.tids
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        checked = 0
        statuses: Counter[int] = Counter()
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()

            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(
                max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            def check(case: schemathesis.Case[Any]) -> None:
                size = len(repr(case.body))
                if "terminal_id" in case.path_parameters and size % 2:  # often a real terminal
                    case.path_parameters["terminal_id"] = tids[size % len(tids)]
                response = case.call(base_url=server.url, timeout=30)
                statuses[response.status_code] += 1
                assert response.status_code < 500, (case.as_curl_command(), response.text)
                # A schema-valid body may still be refused (422) by a rule no schema can state:
                # the terminal's own currency, a card that is in the test set.
                case.validate_response(response, excluded_checks=[positive_data_acceptance])

            check()
            checked += 1
        assert checked == 13  # every operation of the API, the back office's included
        assert {200, 404, 422} <= set(statuses), statuses  # real terminals were reached too
    finally:
        server.stop()
