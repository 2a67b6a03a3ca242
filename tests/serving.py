"""`tpesim serve` in the test's event loop: a real HTTP server, switch and fleet on the test's
own Mosquitto (or the dashboard alone, attached), for as long as a ``with`` block lasts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from tpesim.serve import ServeConfig, serve
from wire.tasks import wait_ended

Ready = Callable[[str, list[str]], None]


@contextlib.asynccontextmanager
async def serving(
    start: Callable[[Ready], Coroutine[Any, Any, None]],
) -> AsyncIterator[tuple[str, list[str]]]:
    """(base URL, terminal ids) of the server ``start(ready)`` runs, stopped on exit."""
    listening: asyncio.Future[tuple[str, list[str]]] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(start(lambda url, tids: listening.set_result((url, tids))))
    try:
        waited: set[asyncio.Future[Any]] = {server, listening}
        done, _ = await asyncio.wait(waited, timeout=60,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if listening not in done:
            if server in done:
                server.result()  # raises what stopped it
            raise RuntimeError("the server did not start within 60 s")
        yield listening.result()
    finally:
        await wait_ended(server, cancel=True)


def served(config: ServeConfig) -> contextlib.AbstractAsyncContextManager[tuple[str, list[str]]]:
    """``serve(config)``: the API, the dashboard, the switch and the fleet."""
    return serving(lambda ready: serve(config, ready=ready))
