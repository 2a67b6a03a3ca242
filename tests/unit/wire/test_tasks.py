"""Ending a task must not swallow the cancellation of the task that waits for it."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from wire.tasks import cancellation_kept, wait_ended


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_a_waiter_cancelled_while_it_waits_is_cancelled() -> None:
    """Cancelling the waiter cancels the task it awaits; the waiter must end cancelled, not
    go on (as ``suppress(CancelledError)`` would let it)."""
    went_on = asyncio.Event()

    async def waiter(child: asyncio.Task[None]) -> None:
        await wait_ended(child)
        went_on.set()
        await _forever()

    child = asyncio.create_task(_forever())
    task = asyncio.create_task(waiter(child))
    await asyncio.sleep(0)  # the waiter is now waiting for the child
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert child.cancelled() and not went_on.is_set()


async def test_the_awaited_task_cancelled_or_failing_as_ignored_ends_the_wait_quietly() -> None:
    await wait_ended(asyncio.create_task(_forever()), cancel=True)

    async def fails() -> None:
        raise ConnectionError("gone")

    await wait_ended(asyncio.create_task(fails()), ignore=(ConnectionError,))
    with pytest.raises(ConnectionError):
        await wait_ended(asyncio.create_task(fails()))


async def test_the_old_way_swallowed_it() -> None:
    """Why the helper exists: the usual idiom lets the cancelled waiter go on."""
    went_on = asyncio.Event()

    async def waiter(child: asyncio.Task[None]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await child
        went_on.set()

    child = asyncio.create_task(_forever())
    task = asyncio.create_task(waiter(child))
    await asyncio.sleep(0)
    task.cancel()
    await task
    assert went_on.is_set()


async def _acknowledged_as_cancelled(guarded: bool) -> bool:
    """A task waits, through ``asyncio.wait_for`` as aiomqtt does, for an acknowledgement that
    arrives in the same loop turn as a request to cancel the task; whether the task went on."""
    ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    went_on = asyncio.Event()

    async def publisher() -> None:
        if guarded:
            with cancellation_kept():
                await asyncio.wait_for(ack, timeout=10)
        else:
            await asyncio.wait_for(ack, timeout=10)
        went_on.set()

    task = asyncio.create_task(publisher())
    for _ in range(3):  # the task is inside wait_for's inner task by now
        await asyncio.sleep(0)
    ack.set_result(None)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return went_on.is_set()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for keeps cancellations since 3.12")
async def test_wait_for_loses_a_cancellation_that_comes_with_the_result_on_311() -> None:
    """Why the guard exists (CPython gh-86296): unguarded, the cancelled task goes on."""
    assert await _acknowledged_as_cancelled(guarded=False)


async def test_the_guard_raises_a_cancellation_wait_for_lost() -> None:
    assert not await _acknowledged_as_cancelled(guarded=True)


async def test_the_guard_lets_a_block_without_cancellation_finish() -> None:
    with cancellation_kept():
        await asyncio.sleep(0)

    async def timed_out() -> None:
        async with asyncio.timeout(0.01):
            with cancellation_kept():
                await asyncio.Event().wait()

    with pytest.raises(TimeoutError):  # a timeout's own cancellation still becomes TimeoutError
        await timed_out()
