"""The issuer hosts the switch routes to, as the switch sees them: up, down, or slow.

Issuers are simulated in-process (the card records and cardholder accounts are theirs); what
this module simulates is their *availability*. An issuer that is down, or slower than the
switch's deadline, is unavailable: the switch then stands in for it (``switch.flows.standin``) or
answers 91. Pure; the processor does the waiting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["IssuerHosts", "IssuerState", "Routing", "parse_issuer_command"]

DEADLINE_S = 1.0
"""How long the switch waits for an issuer before standing in (below a terminal's timeout)."""


class IssuerState(StrEnum):
    UP = "up"
    DOWN = "down"
    SLOW = "slow"


_SECONDS = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")


def parse_issuer_command(text: str) -> tuple[IssuerState, float]:
    """``up``, ``down`` or ``slow:SECONDS`` (``sim/control/issuer/{issuer}``) as (state, latency
    in seconds); ValueError for anything else."""
    word, _, seconds = text.strip().partition(":")
    state = IssuerState(word)
    if state is not IssuerState.SLOW:
        return state, 0.0
    if not _SECONDS.match(seconds):
        raise ValueError(f"slow needs seconds (slow:2.5), not {seconds[:20]!r}")
    return state, float(seconds)


@dataclass(frozen=True, slots=True)
class Routing:
    """What to do with a request for one issuer: wait ``wait_s`` seconds, then let the issuer
    decide (``available``) or stand in for it."""

    available: bool
    wait_s: float


class IssuerHosts:
    """The availability of every issuer, by issuer id (``algerie-poste``, ``banque-cib``...).

    An issuer nobody has set is up. ``deadline_s`` is how long the switch waits for a slow one.
    """

    def __init__(self, deadline_s: float = DEADLINE_S) -> None:
        if deadline_s <= 0:
            raise ValueError("the issuer deadline must be positive")
        self.deadline_s = deadline_s
        self._state: dict[str, tuple[IssuerState, float]] = {}

    def __repr__(self) -> str:
        states = ", ".join(f"{k}={v[0]}" for k, v in sorted(self._state.items()))
        return f"<IssuerHosts {states or 'all up'}>"

    def set(self, issuer: str, state: IssuerState, latency_s: float = 0.0) -> None:
        """Set ``issuer`` up, down, or slow (answering after ``latency_s`` seconds)."""
        if latency_s < 0:
            raise ValueError("latency must not be negative")
        if state is IssuerState.UP:
            self._state.pop(issuer, None)
        else:
            self._state[issuer] = (state, latency_s if state is IssuerState.SLOW else 0.0)

    def state(self, issuer: str) -> IssuerState:
        return self._state.get(issuer, (IssuerState.UP, 0.0))[0]

    def route(self, issuer: str) -> Routing:
        """Up: ask it now. Slow: ask it and wait its latency, or stand in at the deadline.
        Down: stand in now (its link is down, nothing to wait for)."""
        state, latency = self._state.get(issuer, (IssuerState.UP, 0.0))
        if state is IssuerState.UP:
            return Routing(True, 0.0)
        if state is IssuerState.DOWN:
            return Routing(False, 0.0)
        if latency < self.deadline_s:
            return Routing(True, latency)
        return Routing(False, self.deadline_s)
