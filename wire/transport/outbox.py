"""What one MQTT connection writes, leaving the socket once per turn of the event loop.

Every ``transport.write`` on an idle socket is a system call. The packets queued in one turn of
the event loop (the PUBACKs of the publishes one read brought, the answers one group commit
released) leave together in one write, in the order they were queued.
"""

from __future__ import annotations

import asyncio

__all__ = ["HIGH_WATER", "Outbox"]

HIGH_WATER = 64 * 1024
"""Bytes waiting in the socket's buffer above which a sender waits for them to drain."""


class Outbox:
    """The packets queued for ``writer`` in this turn of the event loop."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._queued: list[bytes] = []
        self.closed = False
        """Set when the connection is over: what is queued then is dropped."""

    def put(self, data: bytes) -> None:
        """Queue ``data``; it is written at the end of this turn of the event loop."""
        if not self._queued:
            asyncio.get_running_loop().call_soon(self.flush)
        self._queued.append(data)

    def flush(self) -> None:
        """Write what is queued now, in one write."""
        queued, self._queued = self._queued, []
        if queued and not self.closed:
            self.writer.write(queued[0] if len(queued) == 1 else b"".join(queued))

    async def drained(self) -> None:
        """Wait for the socket to drain when more than :data:`HIGH_WATER` bytes wait in it
        (flow control: a broker reading slower than this client writes slows it down)."""
        if self.writer.transport.get_write_buffer_size() > HIGH_WATER:
            self.flush()
            await self.writer.drain()
