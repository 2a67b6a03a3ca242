"""Reconnection delays: exponential backoff with full jitter.

After a broker restart every client loses its connection in the same instant; with fixed
delays they all come back in the same instant too, and the broker takes the whole fleet's
CONNECTs (and TLS handshakes) in one burst, again on every retry. Full jitter draws the n-th
delay uniformly from 0 to min(cap, base·2^n), which spreads the reconnections over the whole
window ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015).

Pure: it gives delays, the caller sleeps. The RNG is the caller's, seeded (by client id or
terminal seed), so a run's delays are the same on every run, and two clients' differ.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays before each reconnection attempt: ``next_delay()`` after a failure, ``reset()``
    once connected. ``base_s`` and ``cap_s`` in seconds."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError(f"backoff needs 0 < base ({base_s}) <= cap ({cap_s})")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0
        """Failures since the last :meth:`reset`."""
        self._rng = rng

    def __repr__(self) -> str:
        return f"<Backoff {self.base_s:g}..{self.cap_s:g} s attempt={self.attempt}>"

    def ceiling_s(self) -> float:
        """The largest delay the next attempt can draw (seconds)."""
        return min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 62))

    def next_delay(self) -> float:
        """The delay before the next attempt, uniform in [0, ceiling] (seconds)."""
        delay = self._rng.uniform(0.0, self.ceiling_s())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Connected again: the next failure starts from the shortest window."""
        self.attempt = 0
