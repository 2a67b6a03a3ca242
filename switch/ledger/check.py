"""Ledger invariant checker: reads a ledger database and reports every violation it finds.

Checks (ledger v1): debits equal credits per currency; every account's counters equal the sum
of its transfers; no cardholder account below zero; every approved purchase has its posting;
every reversal mirrors its original exactly, at most once; history tables are append-only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LedgerReport", "check_ledger"]


@dataclass(frozen=True)
class LedgerReport:
    """What the checker found. ``ok`` is True when no invariant is violated."""

    balanced: bool
    negative_accounts: int
    postings: int
    approvals: int
    reversals: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, bool | int]:
        """The ``ledger`` object of ``tpesim demo --json``."""
        return {
            "balanced": self.balanced,
            "negative_accounts": self.negative_accounts,
            "postings": self.postings,
        }

    def render(self) -> str:
        """A human summary, one line per violation."""
        head = "ledger OK" if self.ok else f"ledger: {len(self.problems)} violation(s)"
        lines = [
            f"{head}: balanced={self.balanced} negative_accounts={self.negative_accounts} "
            f"postings={self.postings} approvals={self.approvals} reversals={self.reversals}"
        ]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _rows(db: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    return list(db.execute(sql).fetchall())


def _count(db: sqlite3.Connection, sql: str) -> int:
    (value,) = db.execute(sql).fetchone()
    return int(value)


def check_ledger(path: Path) -> LedgerReport:
    """Run every invariant on the ledger at ``path`` (opened read-only)."""
    if not path.exists():
        raise FileNotFoundError(f"no ledger database at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _check(db)
    finally:
        db.close()


def _check(db: sqlite3.Connection) -> LedgerReport:
    problems: list[str] = []

    # 1. Conservation: per currency, total debits == total credits.
    balanced = True
    for currency, debits, credits in _rows(
        db,
        "SELECT currency, SUM(debits_posted), SUM(credits_posted) FROM accounts GROUP BY currency",
    ):
        if debits != credits:
            balanced = False
            problems.append(f"{currency}: debits {debits} != credits {credits}")

    # 2. Counters agree with the transfers they summarize.
    for account, stored_d, stored_c, sum_d, sum_c in _rows(
        db,
        "SELECT a.id, a.debits_posted, a.credits_posted, "
        "COALESCE((SELECT SUM(amount) FROM transfers t WHERE t.debit_account = a.id), 0), "
        "COALESCE((SELECT SUM(amount) FROM transfers t WHERE t.credit_account = a.id), 0) "
        "FROM accounts a",
    ):
        if (stored_d, stored_c) != (sum_d, sum_c):
            balanced = False
            problems.append(
                f"account {account}: counters {stored_d}/{stored_c} but transfers {sum_d}/{sum_c}"
            )

    # 3. Transfers never mix currencies with their accounts.
    for (transfer_id,) in _rows(
        db,
        "SELECT t.id FROM transfers t JOIN accounts d ON d.id = t.debit_account "
        "JOIN accounts c ON c.id = t.credit_account "
        "WHERE d.currency != t.currency OR c.currency != t.currency",
    ):
        balanced = False
        problems.append(f"transfer {transfer_id}: currency differs from its accounts")

    # 4. No cardholder account below zero.
    negative = _rows(
        db,
        "SELECT id, credits_posted - debits_posted FROM accounts "
        "WHERE kind = 'cardholder' AND debits_posted > credits_posted",
    )
    problems += [f"cardholder account {acct} is negative: {bal}" for acct, bal in negative]

    # 5. Every approved purchase has its posting (acknowledged ⇒ durable).
    approvals = _count(
        db, "SELECT COUNT(*) FROM requests WHERE mti = '0200' AND response_code = '00'"
    )
    for tid, stan in _rows(
        db,
        "SELECT r.tid, r.stan FROM requests r LEFT JOIN transfers t ON t.id = r.transfer_id "
        "WHERE r.mti = '0200' AND r.response_code = '00' "
        "AND (t.id IS NULL OR t.kind != 'purchase')",
    ):
        problems.append(f"approval {tid}/{stan} has no purchase posting")

    # 6. Each reversal mirrors a purchase exactly; at most one per purchase.
    reversals = _count(db, "SELECT COUNT(*) FROM transfers WHERE kind = 'reversal'")
    for (reversal_id,) in _rows(
        db,
        "SELECT r.id FROM transfers r LEFT JOIN transfers p ON p.id = r.reverses "
        "WHERE r.kind = 'reversal' AND (p.id IS NULL OR p.kind != 'purchase' "
        "OR p.amount != r.amount OR p.currency != r.currency "
        "OR p.debit_account != r.credit_account OR p.credit_account != r.debit_account)",
    ):
        problems.append(f"reversal {reversal_id} does not mirror its purchase")
    for (original,) in _rows(
        db,
        "SELECT reverses FROM transfers WHERE reverses IS NOT NULL "
        "GROUP BY reverses HAVING COUNT(*) > 1",
    ):
        problems.append(f"purchase {original} reversed more than once")

    # 7. History is append-only: the triggers that forbid UPDATE/DELETE are in place.
    triggers = {
        str(name) for (name,) in _rows(db, "SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    for needed in ("transfers_append_only_update", "transfers_append_only_delete"):
        if needed not in triggers:
            problems.append(f"trigger {needed} is missing: history could be rewritten")

    postings = _count(db, "SELECT COUNT(*) FROM transfers WHERE kind != 'opening'")
    return LedgerReport(
        balanced=balanced,
        negative_accounts=len(negative),
        postings=postings,
        approvals=approvals,
        reversals=reversals,
        problems=problems,
    )
