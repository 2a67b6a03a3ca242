"""Reading the ledger: balances, stored answers, holds and their resolutions, card state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiosqlite

from switch.ledger.rules import AccountKind, LedgerAccount, Phase, Transfer, TransferKind
from switch.ledger.sql import COLUMNS, transfer_from_row
from switch.ledger.standin import StandInAdvice, TrueUp
from switch.ledger.twophase import Balances

__all__ = ["CardState", "Key", "LedgerReads", "StoredRequest"]

Key = tuple[str, int, str]
"""A request's idempotency key (TID, STAN, DE7)."""


@dataclass(frozen=True, slots=True)
class CardState:
    """The issuer's security state of one card: consecutive wrong PINs, last accepted ATC."""

    card_id: str
    pin_failures: int
    last_atc: int | None


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request already answered: its content digest, response and the transfer it made."""

    mti: str
    digest: str
    response_code: str
    response: bytes
    transfer_id: str | None


class LedgerReads:
    """The read side of :class:`~switch.ledger.store.Ledger` (queries on its connection)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        async with self._db.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else tuple(row)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._db.execute(sql, tuple(params)) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def stored_request(self, key: Key) -> StoredRequest | None:
        """The stored answer to the request with idempotency ``key``, if any."""
        row = await self._one(
            "SELECT mti, digest, response_code, response, transfer_id FROM requests "
            "WHERE tid = ? AND stan = ? AND transmission_time = ?",
            key,
        )
        return None if row is None else StoredRequest(row[0], row[1], row[2], bytes(row[3]), row[4])

    async def balances(self, account_id: str) -> Balances | None:
        """The four counters of ``account_id`` (minor units); None if there is no such account."""
        row = await self._one(
            "SELECT debits_pending, debits_posted, credits_pending, credits_posted "
            "FROM accounts WHERE id = ?",
            (account_id,),
        )
        return None if row is None else Balances(*row)

    async def available(self, account_id: str) -> int:
        """What ``account_id`` can still spend: credits posted - debits posted and held."""
        balances = await self.balances(account_id)
        return balances.available if balances else 0

    async def spent_on_day(self, card_id: str, day: date) -> int:
        """What ``card_id`` spent on the issuer's ``day``: holds not voided or expired (a
        partially posted hold counts what was posted)."""
        row = await self._one(
            "SELECT COALESCE(SUM(CASE WHEN r.phase IS NULL THEN h.amount "
            "WHEN r.phase = 'post' THEN r.amount ELSE 0 END), 0) "
            "FROM transfers h LEFT JOIN transfers r ON r.pending_id = h.id "
            "WHERE h.phase = 'pending' AND h.kind IN ('purchase', 'preauth') "
            "AND h.card_id = ? AND h.issuer_day = ?",
            (card_id, day.isoformat()),
        )
        return int(row[0]) if row else 0

    async def transfer(self, transfer_id: str) -> Transfer | None:
        row = await self._one(
            f"SELECT {COLUMNS} FROM transfers WHERE id = ?",  # noqa: S608 - constant
            (transfer_id,),
        )
        return None if row is None else transfer_from_row(row)

    async def resolution_of(self, hold_id: str) -> Transfer | None:
        """The post, void or expiry that resolved the hold ``hold_id``, if it is resolved. A
        hold cleared by a settlement run gives its share of the run's clearing: a post of the
        whole hold, named after the clearing transfer."""
        row = await self._one(
            f"SELECT {COLUMNS} FROM transfers WHERE pending_id = ?",  # noqa: S608 - constant
            (hold_id,),
        )
        if row is not None:
            return transfer_from_row(row)
        cleared = await self._one(
            "SELECT c.clearing_id, h.debit_account, h.credit_account, h.amount, h.currency "
            "FROM cleared_holds c JOIN transfers h ON h.seq = c.hold_seq WHERE h.id = ?",
            (hold_id,),
        )
        if cleared is None:
            return None
        clearing_id, debit, credit, amount, currency = cleared
        return Transfer(clearing_id, TransferKind.CLEARING, Phase.POST, debit, credit, amount,
                        currency, pending_id=hold_id)  # fmt: skip

    async def transfers_where(self, condition: str, params: Iterable[Any] = ()) -> list[Transfer]:
        """Transfers matching an SQL ``condition`` on the transfers table, in commit order."""
        rows = await self._all(
            f"SELECT {COLUMNS} FROM transfers WHERE {condition} ORDER BY seq",  # noqa: S608
            params,
        )
        return [transfer_from_row(row) for row in rows]

    async def accounts(self) -> list[LedgerAccount]:
        rows = await self._all("SELECT id, kind, currency, participant FROM accounts ORDER BY id")
        return [LedgerAccount(r[0], AccountKind(r[1]), r[2], r[3]) for r in rows]

    async def account_balances(self) -> list[tuple[LedgerAccount, Balances]]:
        """Every account with its four counters (minor units), by id."""
        rows = await self._all(
            "SELECT id, kind, currency, participant, debits_pending, debits_posted, "
            "credits_pending, credits_posted FROM accounts ORDER BY id"
        )
        return [(LedgerAccount(r[0], AccountKind(r[1]), r[2], r[3]), Balances(*r[4:]))
                for r in rows]  # fmt: skip

    async def is_pre_reversed(self, key: Key) -> bool:
        """True when a reversal for the request with ``key`` arrived before the request."""
        row = await self._one(
            "SELECT 1 FROM orphan_reversals WHERE tid = ? AND stan = ? AND transmission_time = ?",
            key,
        )
        return row is not None

    async def card_state(self, card_id: str) -> CardState:
        """The issuer's security state of ``card_id`` (no row yet: no failures, no ATC)."""
        row = await self._one(
            "SELECT pin_failures, last_atc FROM card_security WHERE card_id = ?", (card_id,)
        )
        if row is None:
            return CardState(card_id, 0, None)
        return CardState(card_id, int(row[0]), None if row[1] is None else int(row[1]))

    async def is_signed_on(self, tid: str) -> bool:
        """True when ``tid``'s last network message was a sign-on (shared by all workers)."""
        row = await self._one("SELECT signed_on FROM terminal_sessions WHERE tid = ?", (tid,))
        return bool(row and row[0])

    async def batch_items(self, tid: str, day: date) -> list[tuple[int, bool, int, str]]:
        """The sales and refunds of terminal ``tid`` on business ``day``: (STAN, is refund,
        amount, state) with state ``standing``, ``voided`` or ``expired``, in STAN order."""
        return [
            (int(r[0]), bool(r[1]), int(r[2]), str(r[3]))
            for r in await self._all(
                "SELECT h.stan, h.kind = 'refund', h.amount, CASE "
                "WHEN c.id IS NOT NULL OR r.phase = 'void' THEN 'voided' "
                "WHEN r.phase = 'expire' THEN 'expired' ELSE 'standing' END "
                "FROM transfers h LEFT JOIN transfers r ON r.pending_id = h.id "
                "LEFT JOIN transfers c ON c.id = 'reversal:' || h.id AND c.phase = 'single' "
                "WHERE h.phase = 'pending' AND h.kind IN ('purchase', 'refund') "
                "AND h.tid = ? AND h.business_day = ? "
                "UNION ALL SELECT stan, 0, amount, 'standing' FROM transfers "
                "WHERE kind = 'completion' AND tid = ? AND business_day = ? ORDER BY 1",
                (tid, day.isoformat(), tid, day.isoformat()),
            )
        ]

    async def standin_usage(self, card_id: str, day: date) -> tuple[int, int]:
        """Stand-in approvals of ``card_id`` on issuer ``day``: (how many, their total)."""
        row = await self._one(
            "SELECT count(*), coalesce(sum(amount), 0) FROM standin_advices "
            "WHERE card_id = ? AND issuer_day = ?",
            (card_id, day.isoformat()),
        )
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    async def standin_queue(self, issuer: str | None = None) -> list[StandInAdvice]:
        """The 0120 advices not replayed yet (of ``issuer``, or of all), oldest first."""
        rows = await self._all(
            "SELECT a.hold_id, a.issuer, a.card_id, a.account, a.amount, a.issuer_day "
            "FROM standin_advices a LEFT JOIN standin_replays r ON r.hold_id = a.hold_id "
            "WHERE r.hold_id IS NULL AND (? IS NULL OR a.issuer = ?) ORDER BY a.rowid",
            (issuer, issuer),
        )
        return [
            StandInAdvice(r[0], r[1], r[2], r[3], int(r[4]), date.fromisoformat(r[5])) for r in rows
        ]

    async def standin_advice(self, hold_id: str) -> tuple[StandInAdvice, TrueUp | None] | None:
        """The advice of the stand-in hold ``hold_id`` and its true-up (None: not replayed);
        None when ``hold_id`` is no stand-in hold."""
        row = await self._one(
            "SELECT a.hold_id, a.issuer, a.card_id, a.account, a.amount, a.issuer_day, "
            "r.trued, r.shortfall FROM standin_advices a "
            "LEFT JOIN standin_replays r ON r.hold_id = a.hold_id WHERE a.hold_id = ?",
            (hold_id,),
        )
        if row is None:
            return None
        advice = StandInAdvice(row[0], row[1], row[2], row[3], int(row[4]),
                               date.fromisoformat(row[5]))  # fmt: skip
        return advice, None if row[6] is None else TrueUp(int(row[6]), int(row[7]))
