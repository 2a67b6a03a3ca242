"""The native MQTT client's bookkeeping: the acknowledgements it awaits (one task expires the
overdue ones, no timer per publish) and its outbox (one write per turn of the event loop)."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from wire.tasks import wait_ended
from wire.transport.acks import AckTable, room_in
from wire.transport.outbox import HIGH_WATER, Outbox


async def _next_turn() -> None:
    """Return after what was scheduled with call_soon before this call has run."""
    turn = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(turn.set_result, None)
    await turn


async def test_an_acknowledgement_resolves_its_own_packet_id_only() -> None:
    acks = AckTable(timeout_s=30)
    first, second = acks.expect(1), acks.expect(2)
    assert 1 in acks and 2 in acks and len(acks) == 2
    acks.resolve(2, 0x10)
    acks.resolve(2, 0x00)  # a second PUBACK for the same id changes nothing
    acks.resolve(7, 0x00)  # nor does one for an id nobody awaits
    assert second.result() == 0x10 and not first.done()
    acks.forget(2, second)
    assert 2 not in acks and len(acks) == 1


async def test_the_end_of_the_connection_fails_every_waiter() -> None:
    acks = AckTable(timeout_s=30)
    waiting = [acks.expect(n) for n in (1, 2, 3)]
    acks.resolve(2, 0)
    acks.fail_all("the broker closed the connection")
    assert waiting[1].result() == 0
    for future in (waiting[0], waiting[2]):
        with pytest.raises(ConnectionError, match="broker closed"):
            future.result()


async def test_one_task_expires_the_overdue_and_spares_the_answered() -> None:
    """The expiry task fails an acknowledgement once its timeout has passed, with
    TimeoutError; one answered meanwhile keeps its code; it sleeps while nothing waits and
    wakes for what is awaited later."""
    acks = AckTable(timeout_s=0.05)
    expiry = asyncio.create_task(acks.expire())
    try:
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        overdue, answered = acks.expect(1), acks.expect(2)
        acks.resolve(2, 0)
        with pytest.raises(TimeoutError):
            await overdue
        assert loop.time() - sent_at >= 0.05
        assert answered.result() == 0
        assert 1 not in acks  # off the table, its id free: the task does not fail it again
        reused = acks.expect(1)  # a later publish given the freed id
        acks.forget(1, overdue)  # the overdue publish, cleaning up, leaves it alone
        assert 1 in acks and not reused.done()
        acks.resolve(1, 0)
        acks.forget(1, reused)
        acks.forget(2, answered)
        await _next_turn()  # the task goes back to sleep: nothing is awaited
        later = acks.expect(3)  # and it wakes for this one
        with pytest.raises(TimeoutError):
            await later
    finally:
        await wait_ended(expiry, cancel=True)


async def test_a_full_window_is_waited_for_at_most_the_timeout() -> None:
    window = asyncio.Semaphore(1)
    assert await room_in(window, 0.05)  # room at once
    assert not await room_in(window, 0.05)  # none came
    window.release()
    assert await room_in(window, 0.05)


class _Writer:
    """Stands for an asyncio.StreamWriter: records each write, its buffer as asked."""

    def __init__(self, buffered: int = 0) -> None:
        self.writes: list[bytes] = []
        self.drains = 0
        self.transport = self
        self.buffered = buffered

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    async def drain(self) -> None:
        self.drains += 1


async def test_the_packets_of_one_turn_leave_in_one_write_in_order() -> None:
    writer = _Writer()
    outbox = Outbox(cast(asyncio.StreamWriter, writer))
    for packet in (b"puback-1", b"puback-2", b"publish-3"):
        outbox.put(packet)
    assert writer.writes == []  # not before the end of this turn
    await _next_turn()
    assert writer.writes == [b"puback-1puback-2publish-3"]
    outbox.put(b"next")
    await _next_turn()
    assert writer.writes[1:] == [b"next"]


async def test_a_closed_outbox_writes_nothing_and_a_full_socket_is_drained() -> None:
    writer = _Writer()
    outbox = Outbox(cast(asyncio.StreamWriter, writer))
    outbox.put(b"lost")
    outbox.closed = True
    await _next_turn()
    assert writer.writes == []
    await outbox.drained()
    assert writer.drains == 0  # below the high-water mark: no wait
    full = _Writer(buffered=HIGH_WATER + 1)
    outbox = Outbox(cast(asyncio.StreamWriter, full))
    outbox.put(b"queued")
    await outbox.drained()
    assert full.writes == [b"queued"] and full.drains == 1  # written first, then drained
