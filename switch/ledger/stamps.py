"""The ledger's timestamps on the switch clock: microseconds that never go back (a transfer's
``at_us``, a hold's deadline) and ISO texts for the rows that record when."""

from __future__ import annotations

from switch.ledger.sql import micros
from wire.clock import Clock

__all__ = ["Stamps"]


class Stamps:
    """Timestamps for one ledger, read from ``clock``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.last_us = 0
        """The latest time (µs since the epoch) this ledger gave a transfer."""

    def tick(self, at: int | None = None) -> int:
        """The switch-clock time (µs) for the transaction under way, ``at`` or now, moved up
        to the last one given if the clock is behind it (timestamps never go back)."""
        self.last_us = max(self.last_us, micros(self.clock.now()) if at is None else at)
        return self.last_us

    def stamp(self) -> str:
        """Now as an ISO text with microseconds (``created_at``, ``updated_at`` columns)."""
        return self.clock.now().isoformat(timespec="microseconds")
