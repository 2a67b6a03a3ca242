"""Ledger invariant checker: reads a ledger database and reports every violation it finds.

One named check per invariant of ../shared/domain/ledger-and-reliability.md §A7 that applies:
conservation, counters that agree with the transfers, no negative available balance,
exactly-once per id, a hold resolves at most once, expiry on the switch clock, reversal releases
the hold, no acknowledged approval without a durable hold, settlement totals and net positions
that sum to zero, monotonic timestamps, and append-only history. ``tpesim ledger check`` prints
the report and exits non-zero when a check fails.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from switch.ledger.sql import UNRESOLVED

__all__ = ["CHECKS", "QR_MTI", "Db", "LedgerReport", "check_ledger"]


class _Rows(Protocol):
    def fetchall(self) -> Sequence[Sequence[Any]]: ...

    def fetchone(self) -> Sequence[Any] | None: ...


class Db(Protocol):
    """What the checks need of a ledger connection: sqlite3's ``execute`` (a SQLite ledger, or
    switch.ledger.pg_check's face on a PostgreSQL one)."""

    def execute(self, sql: str, /) -> _Rows: ...


_TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
    "postgresql": "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal",
}


def _rows(db: Db, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in db.execute(sql).fetchall()]


def _count(db: Db, sql: str) -> int:
    row = db.execute(sql).fetchone()
    return int(row[0] or 0) if row else 0


def conservation(db: Db) -> list[str]:
    """Per currency, debits equal credits, posted and pending (double entry)."""
    return [
        f"{cur}: debits {dp}/{dq} != credits {cp}/{cq} (posted/pending)"
        for cur, dp, cp, dq, cq in _rows(
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
        for row in _rows(db, _RECOMPUTED)
        if row[1:5] != row[5:9]
    ]


def no_negative_balance(db: Db) -> list[str]:
    """No account flagged "debits must not exceed credits" has a negative available balance."""
    return [
        f"account {account} is overdrawn: available {available}"
        for account, available in _rows(
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
        for tid, n in _rows(
            db, "SELECT id, COUNT(*) FROM transfers GROUP BY id HAVING COUNT(*) > 1"
        )
    ]
    problems += [
        f"transfer {tid} was refused and also made"
        for (tid,) in _rows(db, "SELECT f.id FROM failed_transfers f JOIN transfers t USING (id)")
    ]
    problems += [
        f"request {tid}/{stan} answered {n} times"
        for tid, stan, n in _rows(
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
        for hold, n in _rows(
            db,
            "SELECT pending_id, COUNT(*) FROM transfers WHERE pending_id IS NOT NULL "
            "GROUP BY pending_id HAVING COUNT(*) > 1",
        )
    ]
    problems += [
        f"resolution {rid} does not match hold {hold}"
        for rid, hold in _rows(
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
        for seq, clearing, why in _rows(
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
        for clearing, amount, held in _rows(
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
        for hold, phase, at, deadline in _rows(
            db,
            "SELECT h.id, r.phase, r.at_us, h.at_us + h.timeout_s * 1000000 FROM transfers r "
            "JOIN transfers h ON h.id = r.pending_id WHERE h.timeout_s > 0 AND ("
            "(r.phase = 'expire' AND r.at_us < h.at_us + h.timeout_s * 1000000) OR "
            "(r.phase = 'post' AND r.at_us >= h.at_us + h.timeout_s * 1000000))",
        )
    ]
    problems += [
        f"hold {hold} passed its deadline {deadline} before {latest} and was never resolved"
        for hold, deadline, latest in _rows(
            db,
            "SELECT h.id, h.expires_us, m.latest FROM transfers h, "  # noqa: S608 - constant
            "(SELECT MAX(at_us) AS latest FROM transfers) m "
            f"WHERE h.expires_us < m.latest AND {UNRESOLVED}",
        )
    ]
    problems += [
        f"hold {hold} was cleared at {at}, after its deadline {deadline}"
        for hold, at, deadline in _rows(
            db,
            "SELECT h.id, t.at_us, h.expires_us FROM cleared_holds c "
            "JOIN transfers h ON h.seq = c.hold_seq JOIN transfers t ON t.id = c.clearing_id "
            "WHERE h.expires_us IS NOT NULL AND t.at_us >= h.expires_us",
        )
    ]
    return problems


def reversal_releases_hold(db: Db) -> list[str]:
    """An accepted reversal leaves its original's hold voided (or, once cleared, corrected);
    an original whose reversal came first never holds."""
    problems = [
        f"hold {hold} was reversed by {tid}/{stan} but is {state or 'still pending'}"
        for hold, tid, stan, state in _rows(
            db,
            "SELECT h.id, rv.tid, rv.stan, r.phase FROM requests rv "
            "JOIN transfers v ON v.id = rv.transfer_id "
            "JOIN transfers h ON h.id = v.pending_id "
            "LEFT JOIN transfers r ON r.pending_id = h.id "
            "WHERE rv.mti = '0400' AND v.kind = 'reversal' "
            "AND (r.phase IS NULL OR r.phase != 'void')",
        )
    ]
    problems += [
        f"{tid}/{stan} was reversed before it arrived, yet holds {hold}"
        for tid, stan, hold in _rows(
            db,
            "SELECT q.tid, q.stan, q.transfer_id FROM requests q JOIN orphan_reversals o "
            "USING (tid, stan, transmission_time) WHERE q.transfer_id IS NOT NULL",
        )
    ]
    return problems


QR_MTI = "QR"
"""What a QR payment is stored as in ``requests.mti`` (it is no ISO 8583 message)."""


def approvals_are_durable(db: Db) -> list[str]:
    """Every approval a terminal received (0200/0100 answered 00) has its hold, but a balance
    inquiry's (DE3 31, read from the stored answer), which holds nothing; every approved QR
    payment (stored as ``QR``) has its posting."""
    return [
        f"approval {tid}/{stan} ({mti}) has no {'posting' if mti == QR_MTI else 'hold'}"
        for tid, stan, mti, response in _rows(
            db,
            "SELECT q.tid, q.stan, q.mti, q.response FROM requests q LEFT JOIN transfers t "
            "ON t.id = q.transfer_id WHERE q.response_code = '00' AND ("
            "(q.mti IN ('0200', '0100') AND (t.id IS NULL OR t.phase != 'pending')) OR "
            "(q.mti = 'QR' AND (t.id IS NULL OR t.kind != 'qr')))",
        )
        if not _answers_an_inquiry(response)
    ]


def _answers_an_inquiry(response: object) -> bool:
    """Whether a stored answer (JSON bytes) is a balance inquiry's."""
    try:
        answer = json.loads(bytes(response))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False
    return isinstance(answer, dict) and str(answer.get("3", "")).startswith("31")


_MEMBERSHIP = """
    SELECT id AS transfer_id, settlement_run AS run FROM transfers
    WHERE settlement_run IS NOT NULL
    UNION ALL SELECT transfer_id, run FROM settlement_items"""


def settlement(db: Db) -> list[str]:
    """Every clearing post, fee and interchange belongs to exactly one settlement run, and only
    money that moved is settled (no pending hold); each run's net positions sum to zero per
    currency and equal what its transfers give each participant."""
    problems = [
        f"{kind} {tid} belongs to no settlement run"
        for tid, kind in _rows(
            db,
            f"SELECT t.id, t.kind FROM transfers t LEFT JOIN ({_MEMBERSHIP}) s "  # noqa: S608
            "ON s.transfer_id = t.id WHERE t.kind IN ('clearing', 'fee', 'interchange') "
            "AND s.run IS NULL",
        )
    ]
    problems += [
        f"{tid} belongs to {n} settlement runs"
        for tid, n in _rows(
            db,
            f"SELECT transfer_id, COUNT(*) FROM ({_MEMBERSHIP}) AS m "  # noqa: S608 - constant
            "GROUP BY transfer_id HAVING COUNT(*) > 1",
        )
    ]
    problems += [
        f"{tid} ({phase}) is in settlement run {run} but moved no money"
        for tid, phase, run in _rows(
            db,
            f"SELECT t.id, t.phase, s.run FROM ({_MEMBERSHIP}) s JOIN transfers t "  # noqa: S608
            "ON t.id = s.transfer_id WHERE t.phase NOT IN ('single', 'post', 'clear')",
        )
    ]
    problems += [
        f"run {run} {cur}: net positions sum to {total}, not 0"
        for run, cur, total in _rows(
            db,
            "SELECT run, currency, SUM(position) FROM settlement_positions "
            "GROUP BY run, currency HAVING SUM(position) != 0",
        )
    ]
    recomputed = f"""
        WITH members AS ({_MEMBERSHIP}), legs AS (
            SELECT s.run, t.debit_account AS account, t.currency, -t.amount AS delta
            FROM members s JOIN transfers t ON t.id = s.transfer_id
            UNION ALL
            SELECT s.run, t.credit_account, t.currency, t.amount
            FROM members s JOIN transfers t ON t.id = s.transfer_id
        ), sums AS (
            SELECT run, account, currency, SUM(delta) AS delta FROM legs
            GROUP BY run, account, currency
        )
        SELECT run, a.participant, s.currency, SUM(delta) FROM sums s
        JOIN accounts a ON a.id = s.account GROUP BY run, a.participant, s.currency"""  # noqa: S608
    computed = {(r, p, c): int(str(v)) for r, p, c, v in _rows(db, recomputed)}
    stored = {
        (r, p, c): int(str(v))
        for r, p, c, v in _rows(
            db, "SELECT run, participant, currency, position FROM settlement_positions"
        )
    }
    for key in sorted(set(computed) | set(stored), key=str):
        if computed.get(key, 0) != stored.get(key, 0):
            problems.append(
                f"run {key[0]}: {key[1]} {key[2]} position {stored.get(key, 0)} but its "
                f"transfers give {computed.get(key, 0)}"
            )
    return problems


def monotonic_time(db: Db) -> list[str]:
    """Switch timestamps never go back in commit order."""
    return [
        f"transfer {tid} is stamped {at}, before its predecessor ({previous})"
        for tid, at, previous in _rows(
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
    "standin_replays_append_only",
)


def append_only(db: Db) -> list[str]:
    """The triggers that forbid UPDATE and DELETE of history are in place."""
    present = {str(name) for (name,) in _rows(db, _TRIGGERS[getattr(db, "dialect", "sqlite")])}
    return [
        f"trigger {name} is missing: history could be rewritten"
        for name in APPEND_ONLY_TRIGGERS
        if name not in present
    ]


_STANDING = """(NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = a.hold_id
    AND r.phase IN ('void', 'expire'))
    AND NOT EXISTS (SELECT 1 FROM transfers c WHERE c.id = 'reversal:' || a.hold_id))"""


def standin_trued_up(db: Db) -> list[str]:
    """Every stand-in approval is held on its issuer's stand-in account; a replayed advice was
    trued up by exactly its amount (cardholder share + issuer shortfall), or by nothing when its
    hold was gone before the replay; no true-up without a replayed advice."""
    problems = [
        f"stand-in advice {hold}: its hold is missing or not on a stand-in account"
        for (hold,) in _rows(
            db,
            "SELECT a.hold_id FROM standin_advices a LEFT JOIN transfers h ON h.id = a.hold_id "
            "AND h.phase = 'pending' AND h.debit_account LIKE 'standin:%' "
            "AND h.amount = a.amount WHERE h.id IS NULL",
        )
    ]
    moved = "(SELECT coalesce(sum(t.amount), 0) FROM transfers t WHERE t.id IN ({}))"
    for hold, amount, trued, short, standing, paid, refunded in _rows(
        db,
        "SELECT a.hold_id, a.amount, r.trued, r.shortfall, "  # noqa: S608 - constant text
        f"{_STANDING}, "
        + moved.format("'true_up:' || a.hold_id, 'true_up_shortfall:' || a.hold_id")
        + ", "
        + moved.format("'true_up_refund:' || a.hold_id, 'true_up_shortfall_refund:' || a.hold_id")
        + " FROM standin_advices a JOIN standin_replays r ON r.hold_id = a.hold_id",
    ):
        recorded = int(str(trued)) + int(str(short))
        if recorded == 0 and standing:
            problems.append(f"stand-in advice {hold}: closed untrued while its hold stands")
        elif recorded not in (0, amount) or paid != recorded:
            problems.append(f"stand-in advice {hold}: {paid} moved for {trued} + {short} "
                            f"recorded, of {amount}")  # fmt: skip
        elif refunded not in (0, recorded) or (refunded and standing):
            problems.append(f"stand-in advice {hold}: {refunded} refunded of {recorded}")
    problems += [
        f"true-up {tid} without a replayed stand-in advice"
        for (tid,) in _rows(
            db,
            "SELECT t.id FROM transfers t WHERE t.kind = 'true_up' AND t.id NOT LIKE "
            "'true_up%refund:%' AND NOT EXISTS (SELECT 1 FROM standin_replays r "
            "WHERE t.id IN ('true_up:' || r.hold_id, 'true_up_shortfall:' || r.hold_id))",
        )
    ]
    return problems


def _hold_state(alias: str) -> str:
    """SQL: what became of the hold ``alias``: its resolution's phase, ``clear`` or
    ``pending``, then ``+corrected`` when a reversal after clearing corrected it."""
    return (
        f"COALESCE((SELECT MIN(r.phase) FROM transfers r WHERE r.pending_id = {alias}.id), "  # noqa: S608
        f"(SELECT MIN('clear') FROM cleared_holds c WHERE c.hold_seq = {alias}.seq), 'pending') "
        f"|| CASE WHEN EXISTS (SELECT 1 FROM transfers c WHERE c.id = 'reversal:' || {alias}.id "
        "AND c.phase = 'single') THEN '+corrected' ELSE '' END"
    )


def fx_legs_follow_their_hold(db: Db) -> list[str]:
    """A payment abroad is two holds, cardholder → exchange desk and desk → merchant: each
    has the other, and what became of one (voided, expired, cleared, corrected) became of
    the other."""
    problems = [
        f"merchant leg {leg} has no purchase hold to the exchange desk"
        for (leg,) in _rows(
            db,
            "SELECT x.id FROM transfers x LEFT JOIN transfers h ON h.id = substr(x.id, 4) "
            "AND h.phase = 'pending' AND h.kind = 'purchase' AND h.credit_account LIKE 'fx:%' "
            "WHERE x.kind = 'fx' AND x.phase = 'pending' AND h.id IS NULL",
        )
    ]
    problems += [
        f"hold {hold} pays the exchange desk but has no merchant leg"
        for (hold,) in _rows(
            db,
            "SELECT h.id FROM transfers h LEFT JOIN transfers x ON x.id = 'fx:' || h.id "
            "WHERE h.phase = 'pending' AND h.credit_account LIKE 'fx:%' AND x.id IS NULL",
        )
    ]
    problems += [
        f"hold {hold} is {hold_state} but its merchant leg is {leg_state}"
        for hold, hold_state, leg_state in _rows(
            db,
            f"SELECT h.id, {_hold_state('h')}, {_hold_state('x')} FROM transfers x "  # noqa: S608
            "JOIN transfers h ON h.id = substr(x.id, 4) WHERE x.kind = 'fx' "
            f"AND x.phase = 'pending' AND {_hold_state('h')} != {_hold_state('x')}",
        )
    ]
    return problems


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
        postings=_count(db, "SELECT COUNT(*) FROM transfers WHERE kind != 'opening'"),
        approvals=_count(
            db,
            "SELECT COUNT(*) FROM requests WHERE mti IN ('0200', '0100') AND response_code = '00'",
        ),
        reversals=_count(db, "SELECT COUNT(*) FROM transfers WHERE kind = 'reversal'"),
        holds_pending=_count(
            db,
            f"SELECT COUNT(*) FROM transfers h WHERE phase = 'pending' AND {UNRESOLVED}",  # noqa: S608
        ),
        negative_accounts=len(results["no negative balance"]),
        problems=[f"{name}: {p}" for name, found in results.items() for p in found],
    )
