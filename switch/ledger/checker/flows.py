"""Ledger invariants of the card flows: reversals release their hold, approvals are durable,
settlement runs add up, stand-in approvals are trued up, a payment abroad's two legs move
together, and a sale's refunds never give back more than it took. Each takes a
:class:`switch.ledger.checker.db.Db` and returns its violations
(switch.ledger.checker.check runs them all)."""

from __future__ import annotations

import json

from switch.ledger.checker.db import Db, rows

__all__ = [
    "QR_MTI",
    "approvals_are_durable",
    "fx_legs_follow_their_hold",
    "refunds_within_their_sale",
    "reversal_releases_hold",
    "settlement",
    "standin_trued_up",
]


def reversal_releases_hold(db: Db) -> list[str]:
    """An accepted reversal leaves its original's hold voided (or, once cleared, corrected);
    an original whose reversal came first never holds."""
    problems = [
        f"hold {hold} was reversed by {tid}/{stan} but is {state or 'still pending'}"
        for hold, tid, stan, state in rows(
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
        for tid, stan, hold in rows(
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
        for tid, stan, mti, response in rows(
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
        for tid, kind in rows(
            db,
            f"SELECT t.id, t.kind FROM transfers t LEFT JOIN ({_MEMBERSHIP}) s "  # noqa: S608
            "ON s.transfer_id = t.id WHERE t.kind IN ('clearing', 'fee', 'interchange') "
            "AND s.run IS NULL",
        )
    ]
    problems += [
        f"{tid} belongs to {n} settlement runs"
        for tid, n in rows(
            db,
            f"SELECT transfer_id, COUNT(*) FROM ({_MEMBERSHIP}) AS m "  # noqa: S608 - constant
            "GROUP BY transfer_id HAVING COUNT(*) > 1",
        )
    ]
    problems += [
        f"{tid} ({phase}) is in settlement run {run} but moved no money"
        for tid, phase, run in rows(
            db,
            f"SELECT t.id, t.phase, s.run FROM ({_MEMBERSHIP}) s JOIN transfers t "  # noqa: S608
            "ON t.id = s.transfer_id WHERE t.phase NOT IN ('single', 'post', 'clear')",
        )
    ]
    problems += [
        f"run {run} {cur}: net positions sum to {total}, not 0"
        for run, cur, total in rows(
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
    computed = {(r, p, c): int(str(v)) for r, p, c, v in rows(db, recomputed)}
    stored = {
        (r, p, c): int(str(v))
        for r, p, c, v in rows(
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


_STANDING = """(NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = a.hold_id
    AND r.phase IN ('void', 'expire'))
    AND NOT EXISTS (SELECT 1 FROM transfers c WHERE c.id = 'reversal:' || a.hold_id))"""


def standin_trued_up(db: Db) -> list[str]:
    """Every stand-in approval is held on its issuer's stand-in account; a replayed advice was
    trued up by exactly its amount (cardholder share + issuer shortfall), or by nothing when its
    hold was gone before the replay; no true-up without a replayed advice."""
    problems = [
        f"stand-in advice {hold}: its hold is missing or not on a stand-in account"
        for (hold,) in rows(
            db,
            "SELECT a.hold_id FROM standin_advices a LEFT JOIN transfers h ON h.id = a.hold_id "
            "AND h.phase = 'pending' AND h.debit_account LIKE 'standin:%' "
            "AND h.amount = a.amount WHERE h.id IS NULL",
        )
    ]
    moved = "(SELECT coalesce(sum(t.amount), 0) FROM transfers t WHERE t.id IN ({}))"
    for hold, amount, trued, short, standing, paid, refunded in rows(
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
        for (tid,) in rows(
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
        for (leg,) in rows(
            db,
            "SELECT x.id FROM transfers x LEFT JOIN transfers h ON h.id = substr(x.id, 4) "
            "AND h.phase = 'pending' AND h.kind = 'purchase' AND h.credit_account LIKE 'fx:%' "
            "WHERE x.kind = 'fx' AND x.phase = 'pending' AND h.id IS NULL",
        )
    ]
    problems += [
        f"hold {hold} pays the exchange desk but has no merchant leg"
        for (hold,) in rows(
            db,
            "SELECT h.id FROM transfers h LEFT JOIN transfers x ON x.id = 'fx:' || h.id "
            "WHERE h.phase = 'pending' AND h.credit_account LIKE 'fx:%' AND x.id IS NULL",
        )
    ]
    problems += [
        f"hold {hold} is {hold_state} but its merchant leg is {leg_state}"
        for hold, hold_state, leg_state in rows(
            db,
            f"SELECT h.id, {_hold_state('h')}, {_hold_state('x')} FROM transfers x "  # noqa: S608
            "JOIN transfers h ON h.id = substr(x.id, 4) WHERE x.kind = 'fx' "
            f"AND x.phase = 'pending' AND {_hold_state('h')} != {_hold_state('x')}",
        )
    ]
    return problems


def _kept(alias: str) -> str:
    """SQL: what the hold ``alias`` keeps as it stands: nothing once voided, expired or
    corrected; what was posted; a pending (or cleared) purchase in full, a pending
    pre-authorization nothing."""
    return (
        f"(CASE WHEN EXISTS (SELECT 1 FROM transfers c WHERE c.id = 'reversal:' || {alias}.id "  # noqa: S608
        f"AND c.phase = 'single') THEN 0 ELSE COALESCE((SELECT CASE WHEN r.phase = 'post' "
        f"THEN r.amount ELSE 0 END FROM transfers r WHERE r.pending_id = {alias}.id), "
        f"CASE WHEN {alias}.kind = 'refund' OR {alias}.kind = 'purchase' THEN {alias}.amount "
        "ELSE 0 END) END)"
    )


def refunds_within_their_sale(db: Db) -> list[str]:
    """A refund that names its sale (``refunds``) is a refund of the sale's card at the sale's
    terminal, and a sale's standing refunds add up to at most what it keeps."""
    problems = [
        f"refund {refund} names {original}, which is not a sale of its card at its terminal"
        for refund, original in rows(
            db,
            "SELECT l.refund_id, l.original_id FROM refunds l "
            "JOIN transfers f ON f.id = l.refund_id JOIN transfers o ON o.id = l.original_id "
            "WHERE f.kind != 'refund' OR f.phase != 'pending' OR o.phase != 'pending' "
            "OR o.kind NOT IN ('purchase', 'preauth') OR COALESCE(f.card_id, '') != "
            "COALESCE(o.card_id, '') OR COALESCE(f.tid, '') != COALESCE(o.tid, '')",
        )
    ]
    problems += [
        f"sale {original} kept {kept} but its refunds give back {refunded}"
        for original, kept, refunded in rows(
            db,
            f"SELECT o.id, {_kept('o')}, SUM({_kept('f')}) FROM refunds l "  # noqa: S608
            "JOIN transfers o ON o.id = l.original_id JOIN transfers f ON f.id = l.refund_id "
            f"GROUP BY o.id, o.kind, o.amount HAVING SUM({_kept('f')}) > {_kept('o')}",
        )
    ]
    return problems
