"""Per-terminal and per-card order while the switch serves many requests at once.

Requests of different terminals and cards are decided concurrently (their ledger writes share
group commits); two requests of the same terminal, or of the same card at two terminals, are
decided one after the other, in the order they arrived. Each request takes its terminal's key,
then its card's, FIFO (asyncio.Lock wakes waiters in order), and keeps them until its answer is
committed. Terminal keys are always taken before card keys, so no two requests wait on each
other in a cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

__all__ = ["OrderedKeys"]


class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        """Requests holding or waiting for this key (the slot goes when none is)."""


class OrderedKeys:
    """FIFO locks by key, created on first use and dropped when nobody holds or waits."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def __len__(self) -> int:
        """Keys held or waited for now."""
        return len(self._slots)

    @asynccontextmanager
    async def holding(self, keys: Sequence[str]) -> AsyncIterator[None]:
        """Hold every one of ``keys``, taken in the order given (terminal before card)."""
        taken: list[str] = []
        try:
            for key in keys:
                await self._acquire(key)
                taken.append(key)
            yield
        finally:
            for key in reversed(taken):
                self._release(key)

    async def _acquire(self, key: str) -> None:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        try:
            await slot.lock.acquire()
        except BaseException:
            self._leave(key, slot)
            raise

    def _release(self, key: str) -> None:
        slot = self._slots[key]
        slot.lock.release()
        self._leave(key, slot)

    def _leave(self, key: str, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[key]
