"""Ledger invariant checker: reads a ledger database and reports every violation it finds.

One named check per invariant of ../shared/domain/ledger-and-reliability.md §A7 that applies:
conservation, counters that agree with the transfers, no negative available balance,
exactly-once per id, a hold resolves at most once, expiry on the switch clock, reversal releases
the hold, no acknowledged approval without a durable hold, settlement totals and net positions
that sum to zero, monotonic timestamps, and append-only history; stand-in approvals trued up,
a payment abroad's two legs moving together, and refunds that never give back more than their
sale took. The checks of the card flows are in
switch.ledger.checker.flows. ``tpesim ledger check`` prints the report and exits non-zero when a
check fails.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from switch.ledger.checker.db import Db, count_of, rows
from switch.ledger.checker.flows import (
    QR_MTI,
    approvals_are_durable,
    fx_legs_follow_their_hold,
    refunds_within_their_sale,
    reversal_releases_hold,
    settlement,
    standin_trued_up,
)
from switch.ledger.sql import UNRESOLVED

__all__ = ["CHECKS", "QR_MTI", "Db", "LedgerReport", "check_ledger"]

_TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
    "postgresql": "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal",
}


def conservation(db: Db) -> list[str]:
    """Per currency, debits equal credits, posted and pending (double entry)."""
    return [
        f"{cur}: debits {dp}/{dq} != credits {cp}/{cq} (posted/pending)"
        for cur, dp, cp, dq, cq in rows(
            db,
            "SELECT currency, SUM(debits_posted), SUM(credits_posted), SUM(debits_pending), "
            "SUM(credits_pending) FROM accounts GROUP BY currency",
        )
        if dp != cp or dq != cq
    ]


_RECOMPUTED = """
WITH legs AS (
    SELECT debit_account AS account, 'd' AS side, phase, amount, pending_id FROM transfers
    UNION ALL
    SELECT credit_account, 'c', phase, amount, pending_id FROM transfers
), sums AS (
    SELECT l.account, l.side,
        SUM(CASE WHEN l.phase IN ('single', 'post', 'clear') THEN l.amount ELSE 0 END) AS posted,
        SUM(CASE WHEN l.phase = 'pending' THEN l.amount
                 WHEN l.phase IN ('post', 'void', 'expire') THEN -h.amount
                 WHEN l.phase = 'clear' THEN -l.amount ELSE 0 END) AS pending
    FROM legs l LEFT JOIN transfers h ON h.id = l.pending_id
    GROUP BY l.account, l.side
)
SELECT a.id, a.debits_posted, a.debits_pending, a.credits_posted, a.credits_pending,
    COALESCE(d.posted, 0), COALESCE(d.pending, 0), COALESCE(c.posted, 0), COALESCE(c.pending, 0)
FROM accounts a
LEFT JOIN sums d ON d.account = a.id AND d.side = 'd'
LEFT JOIN sums c ON c.account = a.id AND c.side = 'c'
"""


def counters(db: Db) -> list[str]:
    """Each account's four counters equal what its transfers add up to."""
    return [
        f"account {row[0]}: counters {row[1:5]} but transfers give {row[5:9]}"
        for row in rows(db, _RECOMPUTED)
        if row[1:5] != row[5:9]
    ]


def no_negative_balance(db: Db) -> list[str]:
    """No account flagged "debits must not exceed credits" has a negative available balance."""
    return [
        f"account {account} is overdrawn: available {available}"
        for account, available in rows(
            db,
            "SELECT id, credits_posted - debits_posted - debits_pending FROM accounts "
            "WHERE debits_must_not_exceed_credits = 1 AND "
            "credits_posted - debits_posted - debits_pending < 0",
        )
    ]


def exactly_once(db: Db) -> list[str]:
    """At most one transfer per id; a refused id never also made a transfer; one answer per
    request key."""
    problems = [
        f"transfer id {tid} appears {n} times"
        for tid, n in rows(db, "SELECT id, COUNT(*) FROM transfers GROUP BY id HAVING COUNT(*) > 1")
    ]
    problems += [
        f"transfer {tid} was refused and also made"
        for (tid,) in rows(db, "SELECT f.id FROM failed_transfers f JOIN transfers t USING (id)")
    ]
    problems += [
        f"request {tid}/{stan} answered {n} times"
        for tid, stan, n in rows(
            db,
            "SELECT tid, stan, COUNT(*) FROM requests GROUP BY tid, stan, transmission_time "
            "HAVING COUNT(*) > 1",
        )
    ]
    return problems


def hold_resolves_once(db: Db) -> list[str]:
    """A hold is posted, voided or expired at most once, by a resolution that matches it: same
    accounts and currency, a post not above the hold, a void or expiry of the whole hold."""
    problems = [
        f"hold {hold} resolved {n} times"
        for hold, n in rows(
            db,
            "SELECT pending_id, COUNT(*) FROM transfers WHERE pending_id IS NOT NULL "
            "GROUP BY pending_id HAVING COUNT(*) > 1",
        )
    ]
    problems += [
        f"resolution {rid} does not match hold {hold}"
        for rid, hold in rows(
            db,
            "SELECT r.id, r.pending_id FROM transfers r "
            "LEFT JOIN transfers h ON h.id = r.pending_id "
            "WHERE r.pending_id IS NOT NULL AND (h.id IS NULL OR h.phase != 'pending' "
            "OR h.debit_account != r.debit_account OR h.credit_account != r.credit_account "
            "OR h.currency != r.currency OR r.amount > h.amount "
            "OR (r.phase != 'post' AND r.amount != h.amount))",
        )
    ]
    problems += [
        f"hold seq {seq} is cleared by {clearing} but {why}"
        for seq, clearing, why in rows(
            db,
            "SELECT c.hold_seq, c.clearing_id, CASE WHEN h.seq IS NULL OR h.phase != 'pending' "
            "THEN 'is not a hold' ELSE 'was also ' || r.phase END FROM cleared_holds c "
            "LEFT JOIN transfers h ON h.seq = c.hold_seq "
            "LEFT JOIN transfers r ON r.pending_id = h.id "
            "WHERE h.seq IS NULL OR h.phase != 'pending' OR r.id IS NOT NULL",
        )
    ]
    problems += [
        f"clearing {clearing} moves {amount} but its holds add up to {held}"
        for clearing, amount, held in rows(
            db,
            "SELECT t.id, t.amount, COALESCE(SUM(h.amount), 0) FROM transfers t "
            "LEFT JOIN cleared_holds c ON c.clearing_id = t.id "
            "LEFT JOIN transfers h ON h.seq = c.hold_seq AND h.debit_account = t.debit_account "
            "AND h.credit_account = t.credit_account AND h.currency = t.currency "
            "WHERE t.phase = 'clear' GROUP BY t.id, t.amount "
            "HAVING COALESCE(SUM(h.amount), 0) != t.amount "
            "OR COUNT(c.hold_seq) != COUNT(h.seq)",
        )
    ]
    return problems


def expiry_on_switch_clock(db: Db) -> list[str]:
    """Holds expire on the switch clock: never early, never posted after their deadline, and
    none is left unresolved past its deadline once the switch has moved on."""
    problems = [
        f"hold {hold} {phase} at {at} after its deadline {deadline}"
        if phase == "post"
        else f"hold {hold} expired early at {at}, deadline {deadline}"
        for hold, phase, at, deadline in rows(
            db,
            "SELECT h.id, r.phase, r.at_us, h.at_us + h.timeout_s * 1000000 FROM transfers r "
            "JOIN transfers h ON h.id = r.pending_id WHERE h.timeout_s > 0 AND ("
            "(r.phase = 'expire' AND r.at_us < h.at_us + h.timeout_s * 1000000) OR "
            "(r.phase = 'post' AND r.at_us >= h.at_us + h.timeout_s * 1000000))",
        )
    ]
    problems += [
        f"hold {hold} passed its deadline {deadline} before {latest} and was never resolved"
        for hold, deadline, latest in rows(
            db,
            "SELECT h.id, h.expires_us, m.latest FROM transfers h, "  # noqa: S608 - constant
            "(SELECT MAX(at_us) AS latest FROM transfers) m "
            f"WHERE h.expires_us < m.latest AND {UNRESOLVED}",
        )
    ]
    problems += [
        f"hold {hold} was cleared at {at}, after its deadline {deadline}"
        for hold, at, deadline in rows(
            db,
            "SELECT h.id, t.at_us, h.expires_us FROM cleared_holds c "
            "JOIN transfers h ON h.seq = c.hold_seq JOIN transfers t ON t.id = c.clearing_id "
            "WHERE h.expires_us IS NOT NULL AND t.at_us >= h.expires_us",
        )
    ]
    return problems


def monotonic_time(db: Db) -> list[str]:
    """Switch timestamps never go back in commit order."""
    return [
        f"transfer {tid} is stamped {at}, before its predecessor ({previous})"
        for tid, at, previous in rows(
            db,
            "SELECT id, at_us, prev FROM (SELECT id, at_us, "
            "LAG(at_us) OVER (ORDER BY seq) AS prev FROM transfers) AS ordered WHERE at_us < prev",
        )
    ]


APPEND_ONLY_TRIGGERS = (
    "transfers_append_only_update",
    "transfers_append_only_delete",
    "requests_append_only_update",
    "requests_append_only_delete",
    "settlement_append_only_update",
    "settlement_append_only_delete",
    "settlement_items_append_only",
    "cleared_holds_append_only_update",
    "cleared_holds_append_only_delete",
    "standin_advices_append_only",
    "refunds_append_only_update",
    "refunds_append_only_delete",
    "card_events_append_only_update",
    "card_events_append_only_delete",
    "settlement_reports_append_only_update",
    "settlement_reports_append_only_delete",
    "standin_replays_append_only",
)


def append_only(db: Db) -> list[str]:
    """The triggers that forbid UPDATE and DELETE of history are in place."""
    present = {str(name) for (name,) in rows(db, _TRIGGERS[getattr(db, "dialect", "sqlite")])}
    return [
        f"trigger {name} is missing: history could be rewritten"
        for name in APPEND_ONLY_TRIGGERS
        if name not in present
    ]


CHECKS: dict[str, Callable[[Db], list[str]]] = {
    "conservation": conservation,
    "counters": counters,
    "no negative balance": no_negative_balance,
    "exactly once": exactly_once,
    "hold resolves once": hold_resolves_once,
    "expiry on switch clock": expiry_on_switch_clock,
    "reversal releases hold": reversal_releases_hold,
    "approvals are durable": approvals_are_durable,
    "settlement": settlement,
    "monotonic time": monotonic_time,
    "append only": append_only,
    "stand-in trued up": standin_trued_up,
    "fx legs follow their hold": fx_legs_follow_their_hold,
    "refunds within their sale": refunds_within_their_sale,
}
"""Every invariant, by name, in the order the report lists them."""


@dataclass(frozen=True)
class LedgerReport:
    """What the checker found: the violations of each check (empty lists when all hold)."""

    results: dict[str, list[str]]
    postings: int
    approvals: int
    reversals: int
    holds_pending: int
    negative_accounts: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def balanced(self) -> bool:
        return not (self.results["conservation"] or self.results["counters"])

    def failed(self) -> list[str]:
        """Names of the checks that found a violation."""
        return [name for name, found in self.results.items() if found]

    def as_dict(self) -> dict[str, bool | int]:
        """The ``ledger`` object of ``tpesim demo --json``."""
        return {
            "balanced": self.balanced,
            "negative_accounts": self.negative_accounts,
            "postings": self.postings,
            "holds_pending": self.holds_pending,
            "invariants_checked": len(self.results),
            "violations": len(self.problems),
        }

    def render(self) -> str:
        """A human report: one line per check, then every violation under its check."""
        head = "ledger OK" if self.ok else f"ledger: {len(self.problems)} violation(s)"
        lines = [
            f"{head}: postings={self.postings} approvals={self.approvals} "
            f"reversals={self.reversals} holds_pending={self.holds_pending}"
        ]
        for name, found in self.results.items():
            lines.append(f"  {'FAIL' if found else 'ok  '} {name}")
            lines += [f"       - {problem}" for problem in found[:20]]
            if len(found) > 20:
                lines.append(f"       … and {len(found) - 20} more")
        return "\n".join(lines)


def check_ledger(path: Path) -> LedgerReport:
    """Run every invariant on the ledger at ``path`` (opened read-only)."""
    if not path.exists():
        raise FileNotFoundError(f"no ledger database at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return check_connection(db)
    finally:
        db.close()


def check_connection(db: Db) -> LedgerReport:
    """Run every invariant on an open ledger connection."""
    results = {name: check(db) for name, check in CHECKS.items()}
    return LedgerReport(
        results=results,
        postings=count_of(db, "SELECT COUNT(*) FROM transfers WHERE kind != 'opening'"),
        approvals=count_of(
            db,
            "SELECT COUNT(*) FROM requests WHERE mti IN ('0200', '0100') AND response_code = '00'",
        ),
        reversals=count_of(db, "SELECT COUNT(*) FROM transfers WHERE kind = 'reversal'"),
        holds_pending=count_of(
            db,
            f"SELECT COUNT(*) FROM transfers h WHERE phase = 'pending' AND {UNRESOLVED}",  # noqa: S608
        ),
        negative_accounts=len(results["no negative balance"]),
        problems=[f"{name}: {p}" for name, found in results.items() for p in found],
    )
