"""Injectable clocks: the system clock in production, a manual one in tests and scenarios."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "OffsetClock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    """Where the current time comes from. ``now()`` is timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "<SystemClock>"


class ManualClock:
    """A clock that only moves when told to; for deterministic tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self._now += timedelta(seconds=seconds)

    def __repr__(self) -> str:
        return f"<ManualClock {self._now.isoformat()}>"


class OffsetClock:
    """Another clock, off by ``offset_s`` seconds (a terminal whose clock is wrong)."""

    def __init__(self, base: Clock, offset_s: float) -> None:
        self.base = base
        self.offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def __repr__(self) -> str:
        return f"<OffsetClock {self.offset} off {self.base!r}>"


class ScaledClock:
    """Simulated time: starts at ``start`` and runs ``speed`` times faster than real time, and
    can jump forward (never back), so a trading day, its cut-off and a hold's expiry take
    minutes or seconds instead of days."""

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start time")
        if speed <= 0:
            raise ValueError("the clock speed must be positive")
        self._start = start.astimezone(UTC)
        self._speed = speed
        self._monotonic = monotonic
        self._began = monotonic()
        self._jumped = 0.0

    def now(self) -> datetime:
        elapsed = (self._monotonic() - self._began) * self._speed + self._jumped
        return self._start + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` forward."""
        if seconds < 0:
            raise ValueError("the clock never goes back")
        self._jumped += seconds

    def advance_to(self, moment: datetime) -> None:
        """Jump to ``moment`` if it is still ahead (otherwise stay)."""
        ahead = (moment - self.now()).total_seconds()
        if ahead > 0:
            self.advance(ahead)

    def __repr__(self) -> str:
        return f"<ScaledClock x{self._speed:g} {self.now().isoformat()}>"
