"""The SQL text of the ledger's writes, and the mapping between transfers and rows (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from switch.ledger.clearing import ClearingLine
from switch.ledger.rules import AccountKind, LedgerAccount, Phase, Transfer, TransferKind

__all__ = [
    "ACCOUNTS",
    "CLEAR",
    "CLEARABLE",
    "CLEARING_LINES",
    "CLEAR_HOLDS",
    "COLUMNS",
    "EXPIRE",
    "NEW_TRANSFER",
    "RESOLVE",
    "RUNS_ON_DAY",
    "UNRESOLVED",
    "UNSETTLED_POSTED",
    "account_from_row",
    "clearing_line_from_row",
    "day_text",
    "micros",
    "statement_for",
    "transfer_from_row",
]

SCHEMA_VERSION = 6
"""The ledger schema both backends create (schema.sql, pg_schema.sql); a database of another
version is refused at open, never migrated in place."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Switch-clock microseconds since the Unix epoch (exact, no float)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


COLUMNS = (
    "id, kind, phase, pending_id, debit_account, credit_account, amount, currency, timeout_s, "
    "card_id, tid, stan, transmission_time, issuer_day, business_day, rrn"
)
NEW_TRANSFER = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest, expires_us)
VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
    CASE WHEN ? = 'pending' AND ? > 0 THEN ? + ? * 1000000 END)
"""  # noqa: S608 - constant text
# A resolution takes its accounts, currency and (for a void, or a post of 0) amount from the hold.
RESOLVE = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest)
SELECT ?1, ?2, ?3, ?4, COALESCE(h.debit_account, ?5), COALESCE(h.credit_account, ?6),
    CASE WHEN h.id IS NULL OR (?3 = 'post' AND ?7 != 0) THEN ?7 ELSE h.amount END,
    COALESCE(h.currency, ?8), ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18
FROM (SELECT 1) LEFT JOIN transfers h ON h.id = ?4 AND h.phase = 'pending'
"""  # noqa: S608 - constant text
EXPIRE = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest)
SELECT 'expire:' || id, 'expiry', 'expire', id, debit_account, credit_account, amount, currency, 0,
    card_id, tid, stan, transmission_time, issuer_day, business_day, rrn, ?, ''
FROM transfers WHERE id = ?
"""  # noqa: S608 - constant text


UNRESOLVED = (
    "NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id) "
    "AND NOT EXISTS (SELECT 1 FROM cleared_holds c WHERE c.hold_seq = h.seq)"
)
"""SQL: the hold ``h`` is neither posted, voided, expired (a resolution row) nor cleared."""
CLEARABLE = (
    "h.phase = 'pending' AND h.kind IN ('purchase', 'refund', 'fx') AND h.business_day = ?1 "
    f"AND {UNRESOLVED}"
)
CLEAR = f"""
INSERT INTO transfers ({COLUMNS}, at_us, digest, settlement_run)
VALUES (?, 'clearing', 'clear', NULL, ?, ?, ?, ?, 0, ?, NULL, NULL, NULL, NULL, ?, NULL, ?, ?, ?)
"""  # noqa: S608 - constant text
CLEAR_HOLDS = f"""
INSERT INTO cleared_holds (hold_seq, clearing_id)
SELECT h.seq, l.clearing_id FROM transfers h CROSS JOIN temp.clearing_lines l
    ON l.debit_account = h.debit_account AND l.credit_account = h.credit_account
    AND l.card_id = COALESCE(h.card_id, '') AND l.kind = h.kind AND l.currency = h.currency
WHERE {CLEARABLE}
"""  # noqa: S608 - constant text

# Settlement reads: the day's clearable holds summed per line (its ?1 is the business day), the
# completions and corrections no run has settled yet, and how many runs the day has had.
CLEARING_LINES = (
    "SELECT debit_account, credit_account, card_id, kind, currency, COUNT(*), "  # noqa: S608
    f"SUM(amount) FROM transfers h WHERE {CLEARABLE} "
    "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
)
UNSETTLED_POSTED = (
    f"SELECT {COLUMNS} FROM transfers t "  # noqa: S608 - constant
    "LEFT JOIN settlement_items s ON s.transfer_id = t.id WHERE s.run IS NULL "
    "AND (kind = 'completion' OR (kind = 'reversal' AND phase = 'single')) "
    "AND business_day <= ? ORDER BY seq"
)
RUNS_ON_DAY = "SELECT COUNT(DISTINCT run) FROM settlement_positions WHERE business_day = ?"
ACCOUNTS = "SELECT id, kind, currency, participant FROM accounts ORDER BY id"


def clearing_line_from_row(row: Sequence[Any]) -> ClearingLine:
    """A :class:`ClearingLine` from a row of ``CLEARING_LINES``."""
    return ClearingLine(row[0], row[1], row[2] or "", TransferKind(row[3]), row[4], int(row[5]),
                        int(row[6]))  # fmt: skip


def account_from_row(row: Sequence[Any]) -> LedgerAccount:
    """A :class:`LedgerAccount` from a row of ``ACCOUNTS``."""
    return LedgerAccount(row[0], AccountKind(row[1]), row[2], row[3])


def day_text(value: date | None) -> str | None:
    return value.isoformat() if value else None


def statement_for(transfer: Transfer, at_us: int) -> tuple[str, Sequence[Any]]:
    """The INSERT for ``transfer`` and its parameters (plain VALUES unless it resolves a hold)."""
    t = transfer
    if t.pending_id is None:
        return NEW_TRANSFER, (
            t.id, t.kind.value, t.phase.value, t.debit_account, t.credit_account, t.amount,
            t.currency, t.timeout_s, t.card_id, t.tid, t.stan, t.transmission_time,
            day_text(t.issuer_day), day_text(t.business_day), t.rrn, at_us, t.digest,
            t.phase.value, t.timeout_s, at_us, t.timeout_s,
        )  # fmt: skip
    return RESOLVE, (
        t.id, t.kind.value, t.phase.value, t.pending_id, t.debit_account, t.credit_account,
        t.amount, t.currency, t.timeout_s, t.card_id, t.tid, t.stan, t.transmission_time,
        day_text(t.issuer_day), day_text(t.business_day), t.rrn, at_us, t.digest,
    )  # fmt: skip


def transfer_from_row(row: Sequence[Any]) -> Transfer:
    """A :class:`Transfer` from a row selected as ``COLUMNS``."""
    return Transfer(
        id=row[0],
        kind=TransferKind(row[1]),
        phase=Phase(row[2]),
        pending_id=row[3],
        debit_account=row[4],
        credit_account=row[5],
        amount=row[6],
        currency=row[7],
        timeout_s=row[8],
        card_id=row[9],
        tid=row[10],
        stan=row[11],
        transmission_time=row[12],
        issuer_day=date.fromisoformat(row[13]) if row[13] else None,
        business_day=date.fromisoformat(row[14]) if row[14] else None,
        rrn=row[15],
    )
