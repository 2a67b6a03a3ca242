"""The ledger's write steps, synchronous, on the connection's own thread.

Each function takes the :class:`sqlite3.Connection` inside a transaction the caller opened and
runs its statements one after another without returning to the event loop: a business event
(a request's answer with its transfers) costs one hop to the database thread, not one per
statement. :class:`~switch.ledger.sqlite.store.Ledger` decides when these run and commits them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from switch.ledger.errors import (
    DuplicateRequestError,
    InsufficientFundsError,
    LedgerRefusalError,
)
from switch.ledger.events import BATCH_CLOSE, Answer, BatchClose, Rows
from switch.ledger.rules import LedgerAccount, Transfer
from switch.ledger.sql import EXPIRE, UNRESOLVED, statement_for
from switch.ledger.twophase import Outcome

__all__ = [
    "BATCH_CLOSE",
    "FAILED_OUTCOME",
    "STORED_DIGEST",
    "Answer",
    "BatchClose",
    "Rows",
    "ensure_accounts",
    "existing_outcome",
    "expire_due",
    "failed_outcome",
    "insert_transfer",
    "named_outcome",
    "post",
    "raise_if_refused",
    "remembered",
    "store_answer",
]


def ensure_accounts(db: sqlite3.Connection, accounts: Iterable[LedgerAccount]) -> None:
    """Create the ``accounts`` that do not exist yet."""
    db.executemany(
        "INSERT OR IGNORE INTO accounts (id, kind, currency, participant, "
        "debits_must_not_exceed_credits) VALUES (?, ?, ?, ?, ?)",
        [
            (a.id, a.kind.value, a.currency, a.participant, int(a.debits_must_not_exceed_credits))
            for a in accounts
        ],
    )


def expire_due(db: sqlite3.Connection, since_us: int, now_us: int) -> list[str]:
    """Expire the holds whose deadline fell in (``since_us``, ``now_us``], in deadline order
    (a hold resolved meanwhile is left alone); their ids."""
    due = [
        str(row[0])
        for row in db.execute(
            "SELECT h.id FROM transfers h WHERE h.expires_us > ? AND h.expires_us <= ? "  # noqa: S608
            f"AND {UNRESOLVED} ORDER BY h.expires_us, h.seq",
            (since_us, now_us),
        )
    ]
    if due:
        db.executemany(EXPIRE, [(now_us, hold_id) for hold_id in due])
    return due


def insert_transfer(
    db: sqlite3.Connection, transfer: Transfer, now_us: int, *, remember_failure: bool = False
) -> Outcome:
    """Insert ``transfer`` through the rule triggers; its outcome. ``remember_failure``: a
    refusal is stored under the transfer's id, so a retry with the same id stays refused."""
    try:
        db.execute(*statement_for(transfer, now_us))
    except sqlite3.IntegrityError as exc:
        outcome = _refusal(db, transfer, str(exc))
    else:
        return Outcome.OK
    if remember_failure and remembered(outcome):
        db.execute(
            "INSERT OR IGNORE INTO failed_transfers VALUES (?, ?, ?, ?)",
            (transfer.id, transfer.digest, outcome.value, now_us),
        )
    return outcome


STORED_DIGEST = "SELECT digest FROM transfers WHERE id = ?"
FAILED_OUTCOME = "SELECT digest, outcome FROM failed_transfers WHERE id = ?"
"""What a refusal named ``exists`` or ``id_already_failed`` is told apart by (any backend)."""


def _refusal(db: sqlite3.Connection, transfer: Transfer, message: str) -> Outcome:
    """The outcome an IntegrityError from the transfer rules stands for."""
    if message == "exists":
        return existing_outcome(transfer, db.execute(STORED_DIGEST, (transfer.id,)).fetchone())
    if message == "id_already_failed":
        return failed_outcome(transfer, db.execute(FAILED_OUTCOME, (transfer.id,)).fetchone())
    if message.startswith("CHECK constraint failed") and "credits" in message:
        return Outcome.EXCEEDS_CREDITS
    return named_outcome(transfer, message)


def existing_outcome(transfer: Transfer, stored: Sequence[Any] | None) -> Outcome:
    """``transfer``'s id is taken by the transfer whose (digest,) is ``stored``."""
    same = stored is not None and stored[0] == transfer.digest
    return Outcome.EXISTS if same else Outcome.EXISTS_WITH_DIFFERENT_FIELDS


def failed_outcome(transfer: Transfer, failed: Sequence[Any] | None) -> Outcome:
    """``transfer``'s id was refused before, as ``failed`` (digest, outcome) records: the same
    refusal again for the same transfer."""
    if failed is None or failed[0] != transfer.digest:
        return Outcome.EXISTS_WITH_DIFFERENT_FIELDS
    return Outcome(failed[1])


def named_outcome(transfer: Transfer, message: str) -> Outcome:
    """The outcome a rule trigger named in its error ``message``; RuntimeError for anything
    else (a database error that is no refusal)."""
    try:
        return Outcome(message)
    except ValueError:
        raise RuntimeError(f"transfer {transfer.id}: ledger error {message}") from None


def remembered(outcome: Outcome) -> bool:
    """Whether a refusal is stored under the transfer's id (not a mere reuse of a taken id)."""
    return outcome not in (Outcome.EXISTS, Outcome.EXISTS_WITH_DIFFERENT_FIELDS)


def post(
    db: sqlite3.Connection,
    transfers: Sequence[Transfer],
    accounts: Iterable[LedgerAccount],
    rows: Rows,
    now_us: int,
) -> None:
    """Create ``accounts``, make ``transfers`` (raising on the first refusal), insert ``rows``."""
    ensure_accounts(db, accounts)
    for transfer in transfers:
        raise_if_refused(transfer, insert_transfer(db, transfer, now_us))
    for sql, params in rows:
        db.execute(sql, params)


def raise_if_refused(transfer: Transfer, outcome: Outcome) -> None:
    """The error an event's transfer raises when the ledger did not make it (any backend)."""
    if outcome in (Outcome.EXISTS, Outcome.EXISTS_WITH_DIFFERENT_FIELDS):
        raise DuplicateRequestError(f"{transfer.id}: {outcome}")
    if outcome is Outcome.EXCEEDS_CREDITS:
        raise InsufficientFundsError(transfer, outcome)
    if outcome is not Outcome.OK:
        raise LedgerRefusalError(transfer, outcome)


def store_answer(
    db: sqlite3.Connection, answer: Answer, first_transfer: str | None, stamp: str
) -> None:
    """Store ``answer`` (with the card's new security state, a batch close, an orphan reversal
    it records), pointing at ``first_transfer``; DuplicateRequestError when its key is taken."""
    if (state := answer.card_state) is not None:
        db.execute(
            "INSERT INTO card_security (card_id, pin_failures, last_atc, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (card_id) DO UPDATE SET "
            "pin_failures = excluded.pin_failures, last_atc = excluded.last_atc, "
            "updated_at = excluded.updated_at",
            (state.card_id, state.pin_failures, state.last_atc, stamp),
        )
    if answer.batch_close is not None:
        db.execute(BATCH_CLOSE, (*answer.batch_close, stamp))
    if answer.orphan_reversal_of is not None:
        db.execute("INSERT OR IGNORE INTO orphan_reversals VALUES (?, ?, ?, ?)",
                   (*answer.orphan_reversal_of, stamp))  # fmt: skip
    try:
        db.execute(
            "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*answer.key, answer.mti, answer.digest, answer.response_code, answer.response,
             first_transfer, stamp),
        )  # fmt: skip
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        raise DuplicateRequestError(str(exc)) from None
