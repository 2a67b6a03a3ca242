"""Which terminal messages the switch reads at all: a rate limit per terminal.

A token bucket per TID (the TID of the request topic, the sender's identity under the broker's
ACL): on average ``rate`` messages per second, ``burst`` at once. A message over the limit is
dropped before it is decoded, at the cost of a dictionary lookup, so a terminal flooding the
switch, with garbage or with well-formed requests, cannot take the workers from the others.
A terminal whose message was dropped times out and repeats, as after any loss; a real TPE
sends a few messages a minute. A message the switch refuses once read (a format error, a MAC
that does not verify) costs :data:`REFUSAL_COST` tokens in all: a terminal sending garbage is
read at a tenth of the rate, and the burst it starts with is spent after a few messages, so the
work its flood makes stays small beside the others'. Pure: the clock is given.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BURST", "RATE_PER_S", "REFUSAL_COST", "LogBudget", "RateLimit", "TerminalAdmission"]

log = logging.getLogger("switch.rules.admission")

RATE_PER_S = 50.0
"""Messages a terminal may send per second on average, by default: far above a TPE's pace,
and above what one terminal of ``tpesim bench switch`` sends."""
BURST = 100
"""Messages a terminal may send at once, by default (a store-and-forward queue's flush)."""
REFUSAL_COST = 10
"""Tokens a refused message costs in all (one to be read, the rest once refused)."""
_TRACKED = 100_000
"""Terminals tracked before full buckets (those that have been quiet) are forgotten."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` messages per second on average, ``burst`` at once."""

    rate: float = RATE_PER_S
    burst: int = BURST

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst >= 1, not {self}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``RATE`` or ``RATE/BURST`` (messages per second / at once; burst twice the rate when
        left out); ValueError naming what is wrong."""
        rate_text, _, burst_text = text.partition("/")
        try:
            rate = float(rate_text)
            burst = int(burst_text) if burst_text else max(1, round(2 * rate))
            return cls(rate, burst)
        except ValueError:
            raise ValueError(f"rate limit {text!r}: use RATE or RATE/BURST, e.g. 50/100") from None


class TerminalAdmission:
    """The per-terminal token buckets; :meth:`admit` says whether to read a message."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float]) -> None:
        """``clock``: seconds, monotonic (``time.monotonic`` in the switch)."""
        self.limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """TID → (tokens, when they were counted)."""
        self.dropped: Counter[str] = Counter()
        """Messages dropped, by TID, since start."""
        self._dropping: dict[str, int] = {}
        """Terminals over their limit now → messages dropped since they went over."""

    def admit(self, tid: str) -> bool:
        """Take one of ``tid``'s tokens: True to read its message, False to drop it."""
        now = self._clock()
        tokens = self._tokens(tid, now)
        if tokens >= 1.0:
            if len(self._buckets) >= _TRACKED and tid not in self._buckets:
                self._forget_quiet(now)
            if tokens >= self.limit.burst - 1e-6 and tid in self._dropping:  # full: quiet
                log.warning("terminal %s is back under its rate limit; %d messages were dropped",
                            tid, self._dropping.pop(tid))  # fmt: skip
            self._buckets[tid] = (tokens - 1.0, now)
            return True
        self._buckets[tid] = (tokens, now)
        self.dropped[tid] += 1
        if tid not in self._dropping:
            log.warning("attack? terminal %s sends more than %g messages/s (burst %d): dropping "
                        "its messages until it slows down", tid, self.limit.rate,
                        self.limit.burst)  # fmt: skip
            self._dropping[tid] = 0
        self._dropping[tid] += 1
        return False

    def refused(self, tid: str) -> None:
        """``tid``'s message, read, was refused: take the rest of its :data:`REFUSAL_COST`,
        into debt if need be (at most a burst's worth: a terminal that stops sending garbage is
        read again within ``burst / rate`` seconds)."""
        now = self._clock()
        tokens = self._tokens(tid, now) - (REFUSAL_COST - 1)
        self._buckets[tid] = (max(-float(self.limit.burst), tokens), now)

    def _tokens(self, tid: str, now: float) -> float:
        """``tid``'s tokens at ``now``: what it had, refilled since at the limit's rate."""
        tokens, since = self._buckets.get(tid, (float(self.limit.burst), now))
        return min(float(self.limit.burst), tokens + (now - since) * self.limit.rate)

    @property
    def over_limit(self) -> dict[str, int]:
        """Terminals over their limit now → messages dropped since they went over."""
        return dict(self._dropping)

    def _forget_quiet(self, now: float) -> None:
        """Forget terminals whose bucket has filled up again: they are as if never seen."""
        rate, burst = self.limit.rate, float(self.limit.burst)
        self._buckets = {
            tid: (tokens, since)
            for tid, (tokens, since) in self._buckets.items()
            if tokens + (now - since) * rate < burst
        }


class LogBudget:
    """At most one log line per key (a TID) every ``every_s`` seconds, so that a flood of bad
    messages does not become a flood of log lines; the lines held back are counted."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._last: dict[str, tuple[float, int]] = {}
        """key → (when its last line was written, lines held back since)."""

    @staticmethod
    def held_note(held: int) -> str:
        """What to add to a line written after ``held`` were held back."""
        return f" ({held} more since the last one logged)" if held else ""

    def take(self, key: str, now: float) -> int | None:
        """None: hold this line back; else write it, with the count held back before it."""
        last, held = self._last.get(key, (float("-inf"), 0))
        if now - last < self.every_s:
            self._last[key] = (last, held + 1)
            return None
        if len(self._last) >= _TRACKED:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.every_s}
        self._last[key] = (now, 0)
        return held
