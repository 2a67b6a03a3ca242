"""Deadlines a test passes itself: a terminal waits for its answer until the test says the
wait is over, never on the wall clock. An answered request never times out however loaded the
machine; an unanswered one times out exactly when the test decides (after the switch has shown
it will not answer).

    deadlines = HandDeadlines()
    terminal.channel.deadline = deadlines
    sale = asyncio.create_task(terminal.purchase(card, NO_RESPONSE, ...))
    await next_on(trace, topics.trace(tid), where=answer_withheld)  # the switch won't answer
    await deadlines.pass_waiting()  # the terminal times out now
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import TypeVar

from wire.transport.base import Inbound

__all__ = ["HandDeadlines", "answer_withheld"]

T = TypeVar("T")


class _HandDeadline:
    """One wait for an answer: no deadline until :meth:`HandDeadlines.pass_waiting`."""

    def __init__(self, owner: HandDeadlines, seconds: float) -> None:
        self.owner = owner
        self.seconds = seconds
        """What the terminal would have waited on the clock (kept for its trace)."""
        self.inner = asyncio.timeout(None)
        self.waiting = False

    async def __aenter__(self) -> _HandDeadline:
        await self.inner.__aenter__()
        self.waiting = True
        self.owner.armed.set()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.waiting = False
        await self.inner.__aexit__(kind, error, trace)

    def pass_now(self) -> None:
        """End the wait: it times out at the loop's next turn (once; it is then no longer on)."""
        self.waiting = False
        self.inner.reschedule(asyncio.get_running_loop().time())


class HandDeadlines:
    """A terminal channel's ``deadline``: every wait lasts until the test passes it."""

    def __init__(self) -> None:
        self.made: list[_HandDeadline] = []
        self.armed = asyncio.Event()
        """Set when a wait begins."""

    def __call__(self, seconds: float) -> _HandDeadline:
        deadline = _HandDeadline(self, seconds)
        self.made.append(deadline)
        return deadline

    async def pass_waiting(self) -> int:
        """Wait until at least one wait is on, then end every wait that is on (they time out
        as a clock would end them); how many."""
        waiting = await self._waiting()
        for deadline in waiting:
            deadline.pass_now()
        return len(waiting)

    async def pass_until_done(self, task: asyncio.Task[T]) -> T:
        """End every wait as it begins until ``task`` is done (a terminal none of whose
        requests will be answered: its sale, then each of its lost reversals); its result."""
        while not task.done():
            waiting = asyncio.ensure_future(self._waiting())
            await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                for deadline in waiting.result():
                    deadline.pass_now()
            else:
                waiting.cancel()
        return task.result()

    async def _waiting(self) -> list[_HandDeadline]:
        while not (waiting := [d for d in self.made if d.waiting]):
            self.armed.clear()
            await self.armed.wait()
        return waiting


def answer_withheld(message: Inbound) -> bool:
    """Whether ``message`` is the switch's trace event of an answer it decided and did not
    send (a magic no-response amount): the moment to pass the terminal's deadline."""
    event = json.loads(message.payload)
    return (event["hop"], event["event"]) == ("switch", "lost")
