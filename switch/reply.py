"""What the switch answers a message with, and what it counts (switch.processor)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Reply", "SwitchStats"]


@dataclass(frozen=True, slots=True)
class Reply:
    """What to publish back: payload for ``tid``'s response topic (``send`` False: stay silent)."""

    tid: str
    payload: bytes
    response_code: str
    send: bool = True
    effects: tuple[str, ...] = ()
    """What answering did to the ledger, one line per transfer (for trace events)."""
    route: str | None = None
    """Who decided (for trace events): ``issuer:{id}``, ``stand-in:{id}``, or None (the
    switch itself: network, advices, reversals, batch)."""
    reason: str | None = None
    """Why, in a few words (the decision's reason), for trace events."""
    view: bytes | None = None
    """The answer in its JSON form when ``payload`` is in another encoding (for trace events,
    which show the JSON form)."""


@dataclass
class SwitchStats:
    """Counters since start: requests by MTI, responses by DE39, and what was refused."""

    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    format_errors: int = 0
    unattributed: int = 0
    duplicates: int = 0
    conflicts: int = 0
    internal_errors: int = 0
    attacks: Counter[str] = field(default_factory=Counter)
    """Requests that look like an attack, by kind: ``mac`` (the MAC does not verify; answered
    63), ``unsigned`` (no MAC where one is required; answered 63) and ``impersonation`` (DE41
    names another terminal than the topic, which under the broker's ACL is the sender's own;
    answered 30)."""
    clock_skews: int = 0
    """Requests whose DE7 was more than ``CLOCK_TOLERANCE_S`` off the switch's clock."""
