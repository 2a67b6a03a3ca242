"""Why the ledger refused to store an event (nothing of the event was stored in each case)."""

from __future__ import annotations

from switch.ledger.rules import Transfer
from switch.ledger.twophase import Outcome

__all__ = [
    "DuplicateRequestError",
    "InsufficientFundsError",
    "LedgerOpenError",
    "LedgerRefusalError",
    "LedgerUnavailableError",
]


class LedgerRefusalError(RuntimeError):
    """The ledger refused a transfer; nothing of the event was stored."""

    def __init__(self, transfer: Transfer, outcome: Outcome) -> None:
        super().__init__(f"{transfer.id}: {outcome}")
        self.transfer = transfer
        self.outcome = outcome


class InsufficientFundsError(LedgerRefusalError):
    """The database refused a hold that would overdraw a cardholder account."""


class LedgerUnavailableError(RuntimeError):
    """The database could not be written (locked by another process past the busy timeout,
    or gone); nothing of the event was stored and it may be tried again."""


class DuplicateRequestError(RuntimeError):
    """Another writer committed the same idempotency key first; nothing was stored."""


class LedgerOpenError(RuntimeError):
    """The ledger at a location cannot be opened (not a database, another schema version,
    read-only, unreachable); the message says which and why, in one line."""
