"""What a terminal reports and keeps: the outcome of a sale, its counters, its errors, and the
non-volatile memory it needs across power losses."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "FINAL",
    "InProcessMemory",
    "NonVolatileMemory",
    "NotLastSaleError",
    "PowerLostError",
    "TerminalError",
    "TerminalStats",
    "TransactionOutcome",
]


FINAL = frozenset({"00", "12", "13"})
"""Answers to a reversal advice that settle it (done, or nothing there to reverse); others
(a system error, a key clash) leave it queued to be sent again."""


class NonVolatileMemory(Protocol):
    """Where a terminal keeps, across power losses, the request it has in flight."""

    def load_in_flight(self, tid: str) -> bytes | None: ...

    def store_in_flight(self, tid: str, request: bytes | None, next_stan: int) -> None: ...


class TerminalError(RuntimeError):
    """The terminal cannot work: sign-on refused or unanswered, or the broker is unreachable."""


class NotLastSaleError(TerminalError):
    """The sale the cancel key was asked to void is not the terminal's last one (any more)."""


class PowerLostError(TerminalError):
    """The terminal lost power in the middle of a transaction (a fault): it knows nothing more
    until it is powered up again."""


class InProcessMemory:
    """Non-volatile memory kept in this process, by TID (scenarios power terminals off and on
    without leaving the process)."""

    def __init__(self) -> None:
        self._in_flight: dict[str, bytes | None] = {}
        self.next_stan: dict[str, int] = {}

    def load_in_flight(self, tid: str) -> bytes | None:
        return self._in_flight.get(tid)

    def store_in_flight(self, tid: str, request: bytes | None, next_stan: int) -> None:
        self._in_flight[tid] = request
        self.next_stan[tid] = next_stan


@dataclass(frozen=True, slots=True)
class TransactionOutcome:
    """How one purchase ended, as the terminal saw it.

    ``response_code`` is None when no response came in time; ``reversal`` then says whether
    the reversal was acknowledged (``"acknowledged"``) or left pending (``"unresolved"``).
    """

    tid: str
    stan: int
    transmission_time: str
    card_id: str | None
    masked_pan: str
    amount: int
    currency: str
    response_code: str | None
    rrn: str | None
    auth_code: str | None
    reversal: str | None
    latency_ms: float
    receipt: str
    printed: bool = True
    """False when the printer was out of paper: the receipt waits for :meth:`Terminal.reprint`."""
    balance: int | None = None
    """A balance inquiry's answer: the available balance, minor units of ``card_currency``
    when given, else of ``currency``."""
    cash_back: int = 0
    """The cash handed over with the purchase, part of ``amount`` (minor units)."""
    card_currency: str | None = None
    """The card account's currency when it is not the terminal's (a card paying abroad)."""
    billed: int | None = None
    """Paid abroad: what the card's account was debited (DE6), minor units of
    ``card_currency``."""
    reason: str | None = None
    """Why the switch answered as it did, when it said (DE44: ``over FX allowance``...)."""

    @property
    def approved(self) -> bool:
        return self.response_code == "00"

    @property
    def verdict(self) -> str:
        """``"00"``, a decline code, or ``"timeout"``."""
        return self.response_code or "timeout"


@dataclass
class TerminalStats:
    """Counters for one terminal."""

    sent: int = 0
    late_responses: int = 0
    stray_responses: int = 0
    """Answers that did not echo the waiting request's identity and money (ignored)."""
    unreadable_responses: int = 0
    reversals_sent: int = 0
    reversals_unresolved: int = 0
    reconnects: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
