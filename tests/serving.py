"""`tpesim serve` in the test's event loop: a real HTTP server, switch and fleet on the test's
own Mosquitto, for as long as a ``with`` block lasts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tpesim.serve import ServeConfig, serve


@contextlib.asynccontextmanager
async def served(config: ServeConfig) -> AsyncIterator[tuple[str, list[str]]]:
    """(base URL, terminal ids) of ``serve(config)``, stopped on exit."""
    listening: asyncio.Future[tuple[str, list[str]]] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(config, ready=lambda url, tids: listening.set_result((url, tids)))
    )
    try:
        waited: set[asyncio.Future[Any]] = {server, listening}
        done, _ = await asyncio.wait(waited, timeout=60,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if listening not in done:
            if server in done:
                server.result()  # raises what stopped it
            raise RuntimeError("tpesim serve did not start within 60 s")
        yield listening.result()
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
