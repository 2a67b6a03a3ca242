"""What one business event writes besides its transfers, the same on SQLite and PostgreSQL: the
request's stored answer (:class:`Answer`), further rows, and a terminal's batch close."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from switch.ledger.reads import CardState, Key

__all__ = ["BATCH_CLOSE", "Answer", "BatchClose", "Rows"]

Rows = Sequence[tuple[str, tuple[Any, ...]]]
"""Further (SQL, parameters) inserts of one event."""

BatchClose = tuple[str, str, int, int, str, str, str, int | None, int, str]
"""A batch_closes row: TID, business day, STAN, in balance (0/1), terminal totals, ledger
totals and differences (JSON texts), batch number (DE60), last transfer seq covered, digest of
the terminal's claim."""
BATCH_CLOSE = (
    "INSERT INTO batch_closes (tid, business_day, stan, in_balance, terminal, ledger, "
    "differences, batch_number, last_seq, digest, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class Answer:
    """A request's stored answer and what else the same event writes besides its transfers."""

    key: Key
    mti: str
    digest: str
    response_code: str
    response: bytes
    orphan_reversal_of: Key | None = None
    card_state: CardState | None = None
    batch_close: BatchClose | None = None
