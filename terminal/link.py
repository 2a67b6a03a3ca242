"""A terminal's link to the broker and the faults a field link has, drawn from a seeded RNG.

Pure: :class:`Link` only decides what happens to each message (delivered after how many
seconds, how many times, or lost); the terminal shell carries it out. Every random draw comes
from the link's own ``random.Random``, seeded per terminal, and messages pass one at a time (a
TPE runs one transaction at a time), so the same seed gives the same faults on every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Link", "LinkFaults"]


@dataclass
class LinkFaults:
    """What the link does to messages now. Probabilities are 0..1, times in seconds."""

    delay_s: float = 0.0
    """Every message takes this long, each way (a slow link)."""
    jitter_s: float = 0.0
    """... plus a uniform random 0..jitter_s more, each message drawn afresh."""
    loss: float = 0.0
    """Probability that a message (either way) is lost."""
    duplicate: float = 0.0
    """Probability that a request is delivered twice (the copy right behind it)."""
    drop_requests: int = 0
    """The next N requests are lost, whatever the probabilities say."""
    drop_responses: int = 0
    """The next N responses are lost."""
    hold_requests_s: list[float] = field(default_factory=list)
    """The next requests are each held back this many seconds: what the terminal sends after
    them overtakes them (reordered delivery)."""
    hold_responses_s: list[float] = field(default_factory=list)
    """The next responses are each held back this many seconds (a late answer)."""
    duplicate_responses_s: float = 0.0
    """When above 0: every response arrives twice, the copy this many seconds after it (a
    broker redelivering, a stored answer replayed late)."""

    @property
    def clean(self) -> bool:
        return self == LinkFaults()


class Link:
    """Decides the fate of each message crossing one terminal's link."""

    def __init__(self, seed: int | str = 0) -> None:
        self.faults = LinkFaults()
        self._rng = random.Random(str(seed))  # noqa: S311 - simulation, not secrets
        self.lost = 0
        """Messages lost so far (both ways)."""
        self.duplicated = 0
        self.held = 0

    def __repr__(self) -> str:
        return f"<Link {self.faults}>"

    def _delay(self) -> float:
        jitter = self._rng.uniform(0.0, self.faults.jitter_s) if self.faults.jitter_s else 0.0
        return self.faults.delay_s + jitter

    def _lose(self) -> bool:
        return bool(self.faults.loss) and self._rng.random() < self.faults.loss

    def outbound(self) -> list[float]:
        """The delays after which copies of the next request reach the broker; [] when it is
        lost."""
        faults = self.faults
        if faults.drop_requests:
            faults.drop_requests -= 1
            self.lost += 1
            return []
        if faults.hold_requests_s:
            self.held += 1
            return [faults.hold_requests_s.pop(0) + self._delay()]
        if self._lose():
            self.lost += 1
            return []
        deliveries = [self._delay()]
        if faults.duplicate and self._rng.random() < faults.duplicate:
            self.duplicated += 1
            deliveries.append(deliveries[0] + self._delay())
        return deliveries

    def inbound(self) -> list[float]:
        """The delays after which copies of the next response reach the terminal; [] when it
        is lost."""
        if self.faults.drop_responses:
            self.faults.drop_responses -= 1
            self.lost += 1
            return []
        if self.faults.hold_responses_s:
            self.held += 1
            return [self.faults.hold_responses_s.pop(0) + self._delay()]
        if self._lose():
            self.lost += 1
            return []
        delay = self._delay()
        if self.faults.duplicate_responses_s:
            self.duplicated += 1
            return [delay, delay + self.faults.duplicate_responses_s]
        return [delay]
