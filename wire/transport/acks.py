"""The acknowledgements one MQTT connection awaits (PUBACK, SUBACK), with one timeout for all.

A QoS 1 publish registers its packet id and awaits a future; the broker's PUBACK resolves it
with its reason code. Nothing is scheduled per publish: one task (:meth:`AckTable.expire`)
sleeps until the oldest acknowledgement is due and fails those overdue with TimeoutError. The
oldest is always first, as the table keeps sending order and every entry has the same timeout.
"""

from __future__ import annotations

import asyncio

__all__ = ["AckTable", "room_in"]


class _Awaited:
    """One acknowledgement awaited: its future (the ack's reason code) and its deadline
    (event loop time, seconds)."""

    __slots__ = ("deadline", "future")

    def __init__(self, future: asyncio.Future[int], deadline: float) -> None:
        self.future = future
        self.deadline = deadline


class AckTable:
    """Packet ids awaiting their acknowledgement, each for at most ``timeout_s`` seconds."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._awaited: dict[int, _Awaited] = {}
        self._armed = asyncio.Event()
        """Set while something is awaited: :meth:`expire` watches the table then."""

    def __contains__(self, packet_id: object) -> bool:
        return packet_id in self._awaited

    def __len__(self) -> int:
        return len(self._awaited)

    def expect(self, packet_id: int) -> asyncio.Future[int]:
        """Await the acknowledgement of ``packet_id`` from now on; its future (the reason
        code, TimeoutError once overdue, ConnectionError if the connection ends first).
        :meth:`forget` it once done with, naming the future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._awaited[packet_id] = _Awaited(future, loop.time() + self.timeout_s)
        if len(self._awaited) == 1:
            self._armed.set()
        return future

    def forget(self, packet_id: int, future: asyncio.Future[int]) -> None:
        """Stop awaiting ``packet_id`` for ``future`` (an id expired and already given to a
        later publish stays that publish's)."""
        awaited = self._awaited.get(packet_id)
        if awaited is not None and awaited.future is future:
            del self._awaited[packet_id]

    def resolve(self, packet_id: int, code: int) -> None:
        """The broker acknowledged ``packet_id`` with reason ``code`` (an unknown or late
        acknowledgement is ignored)."""
        awaited = self._awaited.get(packet_id)
        if awaited is not None and not awaited.future.done():
            awaited.future.set_result(code)

    def fail_all(self, reason: str) -> None:
        """The connection is over: every awaited acknowledgement fails with ConnectionError."""
        for awaited in self._awaited.values():
            if not awaited.future.done():
                awaited.future.set_exception(ConnectionError(reason))

    async def expire(self) -> None:
        """Fail each acknowledgement not come by its deadline, and take it off the table, for
        as long as it runs (the connection's life): asleep while nothing is awaited or due."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._awaited:
                self._armed.clear()
                await self._armed.wait()
                continue
            packet_id, oldest = next(iter(self._awaited.items()))
            now = loop.time()
            if oldest.deadline > now:
                await asyncio.sleep(oldest.deadline - now)
                continue
            del self._awaited[packet_id]  # its id is free again
            if not oldest.future.done():
                oldest.future.set_exception(TimeoutError())


async def room_in(window: asyncio.Semaphore, timeout_s: float) -> bool:
    """Take a place in ``window`` (the broker's Receive Maximum), waiting at most
    ``timeout_s`` seconds (a timer only when there is no place at once); False if none came."""
    if not window.locked():
        await window.acquire()
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await window.acquire()
    except TimeoutError:
        return False
    return True
