"""Waiting in asyncio without losing the waiter's own cancellation.

Two traps, each a task that goes on after being cancelled (a server that will not stop, a test
that never ends):

- ``task.cancel(); with suppress(CancelledError): await task``: if the caller itself is cancelled
  while it waits, the CancelledError it receives is suppressed too (:func:`wait_ended`);
- ``asyncio.wait_for`` before Python 3.12 drops a cancellation that arrives in the same loop turn
  as the result it waits for (CPython gh-86296); aiomqtt awaits every acknowledgement that way
  (:func:`cancellation_kept`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["cancellation_kept", "wait_ended"]


async def wait_ended(
    task: asyncio.Future[Any],
    *,
    cancel: bool = False,
    ignore: tuple[type[BaseException], ...] = (),
) -> None:
    """Wait until ``task`` has ended (cancelling it first when ``cancel``). Its cancellation,
    and the exceptions in ``ignore``, end the wait quietly; a cancellation of the caller
    propagates."""
    if cancel:
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except ignore:
        pass


@contextlib.contextmanager
def cancellation_kept() -> Iterator[None]:
    """Raise CancelledError on leaving the block if the calling task was asked to cancel while
    in it and the request was lost on the way (``asyncio.wait_for`` on Python 3.11); the block's
    own exceptions pass unchanged."""
    task = asyncio.current_task()
    asked = task.cancelling() if task is not None else 0
    yield
    if task is not None and task.cancelling() > asked:
        raise asyncio.CancelledError
