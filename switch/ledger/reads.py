"""Reading the ledger: balances, stored answers, holds and their resolutions, card state."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import aiosqlite

from switch.ledger.rules import AccountKind, LedgerAccount, Phase, Transfer, TransferKind
from switch.ledger.sql import ACCOUNTS, COLUMNS, account_from_row, transfer_from_row
from switch.ledger.sqlite.group import run_on_thread
from switch.ledger.standin import StandInAdvice, TrueUp
from switch.ledger.twophase import Balances

__all__ = ["CardState", "Key", "LedgerReads", "PurchaseView", "StoredRequest", "first_rows"]

T = TypeVar("T")

Key = tuple[str, int, str]
"""A request's idempotency key (TID, STAN, DE7)."""

_BALANCES = (
    "SELECT debits_pending, debits_posted, credits_pending, credits_posted "
    "FROM accounts WHERE id = ?"
)
_STANDING_HOLDS = (
    "SELECT COALESCE(SUM(CASE WHEN c.id IS NOT NULL THEN 0 WHEN r.phase IS NULL THEN h.amount "
    "WHEN r.phase = 'post' THEN r.amount ELSE 0 END), 0) "
    "FROM transfers h LEFT JOIN transfers r ON r.pending_id = h.id "
    "LEFT JOIN transfers c ON c.id = 'reversal:' || h.id AND c.phase = 'single' "
    "WHERE h.phase = 'pending' "
)
"""The total of the holds ``h`` a condition appended to it selects, as they stand: a hold
voided, expired or reversed after clearing counts nothing, a partially posted one what was
posted."""
_SPENT_ON_DAY = (
    f"{_STANDING_HOLDS}AND h.kind IN ('purchase', 'preauth') AND h.card_id = ? AND h.issuer_day = ?"
)
_FX_SPENT_SINCE = (
    f"{_STANDING_HOLDS}AND h.kind = 'purchase' AND h.credit_account LIKE 'fx:%' "
    "AND h.card_id = ? AND h.issuer_day >= ?"
)
"""What a card's payments abroad (its holds crediting the exchange desk) took since an issuer
day."""
_REFUNDED_OF = f"{_STANDING_HOLDS}AND h.id IN (SELECT refund_id FROM refunds WHERE original_id = ?)"  # noqa: S608
"""What the refunds of one sale (by its hold id) give back as they stand."""
_QR_SPENT_ON_DAY = (
    "SELECT COALESCE(SUM(amount), 0) FROM transfers "
    "WHERE kind = 'qr' AND card_id = ? AND issuer_day = ?"
)
_EXPIRED_ON_BUSINESS_DAY = (
    "SELECT COUNT(*), COALESCE(SUM(h.amount), 0) FROM transfers h "
    "JOIN transfers r ON r.pending_id = h.id "
    "WHERE r.phase = 'expire' AND h.kind IN ('purchase', 'refund') AND h.business_day = ?"
)
_PRE_REVERSED = (
    "SELECT 1 FROM orphan_reversals WHERE tid = ? AND stan = ? AND transmission_time = ?"
)
_STORED_REQUEST = (
    "SELECT mti, digest, response_code, response, transfer_id FROM requests "
    "WHERE tid = ? AND stan = ? AND transmission_time = ?"
)
_CARD_STATE = "SELECT pin_failures, last_atc, blocked FROM card_security WHERE card_id = ?"
_SIGNED_ON = "SELECT signed_on FROM terminal_sessions WHERE tid = ?"
_STANDIN_USAGE = (
    "SELECT count(*), coalesce(sum(amount), 0) FROM standin_advices "
    "WHERE card_id = ? AND issuer_day = ?"
)


def first_rows(
    db: sqlite3.Connection, queries: Sequence[tuple[str, Sequence[Any]]]
) -> list[tuple[Any, ...] | None]:
    """The first row of each of ``queries`` (SQL, parameters) on ``db``, in order."""
    rows = (db.execute(sql, params).fetchone() for sql, params in queries)
    return [None if row is None else tuple(row) for row in rows]


@dataclass(frozen=True, slots=True)
class CardState:
    """The issuer's security state of one card: consecutive wrong PINs, last accepted ATC,
    and whether its back office blocked it (switch.flows.back_office)."""

    card_id: str
    pin_failures: int
    last_atc: int | None
    blocked: bool = False


def _card_state(card_id: str, row: Sequence[Any] | None) -> CardState:
    if row is None:
        return CardState(card_id, 0, None)
    return CardState(card_id, int(row[0]), None if row[1] is None else int(row[1]), bool(row[2]))


@dataclass(frozen=True, slots=True)
class PurchaseView:
    """What deciding one purchase reads from the ledger, read in one go: whether a reversal
    came first, whether its terminal is signed on, and its card's security state, available
    balance, spending and stand-in use on the issuer's day (minor units)."""

    pre_reversed: bool
    signed_on: bool
    card_state: CardState | None = None
    available: int = 0
    spent_today: int = 0
    standin_usage: tuple[int, int] = (0, 0)
    """Stand-in approvals on the issuer's day: (how many, their total)."""
    fx_spent: int = 0
    """What its payments abroad took of its foreign-currency allowance's current period."""


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request already answered: its content digest, response and the transfer it made."""

    mti: str
    digest: str
    response_code: str
    response: bytes
    transfer_id: str | None


class LedgerReads:
    """The read side of the ledger, in SQL both backends run:
    :class:`~switch.ledger.sqlite.store.Ledger` (SQLite, the methods here) and
    :class:`~switch.ledger.postgres.store.PgLedger` (PostgreSQL, which overrides
    how a query runs: ``_one``, ``_all`` and ``_first_rows``)."""

    def __init__(self, db: aiosqlite.Connection | None) -> None:
        self._sqlite = db

    _QUEUE_ORDER = "rowid"
    """The column that orders the stand-in queue (SQLite's rowid)."""

    @property
    def _db(self) -> aiosqlite.Connection:
        assert self._sqlite is not None, "a SQLite ledger's connection"
        return self._sqlite

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of one query, in one hop to the database thread (not three: execute,
        fetch, close)."""
        return (await self._first_rows([(sql, tuple(params))]))[0]

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of one query, in one hop to the database thread."""
        values = tuple(params)

        def read(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in db.execute(sql, values).fetchall()]

        return await self._run(read)

    async def stored_request(self, key: Key) -> StoredRequest | None:
        """The stored answer to the request with idempotency ``key``, if any (committed: the
        switch asks while it holds ``key``'s terminal, whose events are committed before it
        lets go)."""
        (row,) = await self._committed_rows([(_STORED_REQUEST, key)])
        return None if row is None else StoredRequest(row[0], row[1], row[2], bytes(row[3]), row[4])

    async def balances(self, account_id: str) -> Balances | None:
        """The four counters of ``account_id`` (minor units); None if there is no such account."""
        row = await self._one(_BALANCES, (account_id,))
        return None if row is None else Balances(*row)

    async def available(self, account_id: str) -> int:
        """What ``account_id`` can still spend: credits posted - debits posted and held."""
        balances = await self.balances(account_id)
        return balances.available if balances else 0

    async def spent_on_day(self, card_id: str, day: date) -> int:
        """What ``card_id`` spent on the issuer's ``day``: holds not voided, expired or
        reversed after clearing (a partially posted hold counts what was posted)."""
        row = await self._one(_SPENT_ON_DAY, (card_id, day.isoformat()))
        return int(row[0]) if row else 0

    async def expired_on_business_day(self, day: date) -> tuple[int, int]:
        """Sale and refund holds of business ``day`` that expired before clearing (5 days on
        the switch clock) and will never be cleared: how many, and their total in minor units
        (across currencies: for a warning, not for accounts)."""
        row = await self._one(_EXPIRED_ON_BUSINESS_DAY, (day.isoformat(),))
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def qr_spent_on_day(self, card_id: str, day: date) -> int:
        """What ``card_id``'s account paid by QR on the issuer's ``day`` (minor units)."""
        row = await self._one(_QR_SPENT_ON_DAY, (card_id, day.isoformat()))
        return int(row[0]) if row else 0

    async def transfer(self, transfer_id: str) -> Transfer | None:
        row = await self._one(
            f"SELECT {COLUMNS} FROM transfers WHERE id = ?",  # noqa: S608 - constant
            (transfer_id,),
        )
        return None if row is None else transfer_from_row(row)

    async def settlement_reports(self, day: date) -> list[tuple[Any, ...]]:
        """The stored report documents (JSON texts) of business ``day``'s runs, in run order."""
        rows = await self._all(
            "SELECT run, document FROM settlement_reports WHERE business_day = ?",
            (day.isoformat(),),
        )
        ordered = sorted(rows, key=lambda row: int(str(row[0]).rpartition("#")[2] or 0))
        return [(row[1],) for row in ordered]

    async def card_state(self, card_id: str) -> CardState:
        """Card ``card_id``'s security state (wrong PINs, last ATC, blocked by the issuer)."""
        return _card_state(card_id, await self._one(_CARD_STATE, (card_id,)))

    async def card_events(self, card_id: str | None = None) -> list[tuple[Any, ...]]:
        """The back office's events (switch.flows.back_office.EVENTS rows), of one card or all,
        oldest first."""
        return await self._all(
            "SELECT card_id, action, detail, actor, created_at FROM card_events "
            "WHERE (CAST(? AS TEXT) IS NULL OR card_id = ?) ORDER BY seq",
            (card_id, card_id),
        )

    async def refunded_of(self, hold_id: str) -> int:
        """What the refunds that name the sale of hold ``hold_id`` give back as they stand
        (pending or cleared; voided, expired and reversed ones count nothing), minor units."""
        row = await self._one(_REFUNDED_OF, (hold_id,))
        return int(row[0]) if row else 0

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
        return [account_from_row(r) for r in await self._all(ACCOUNTS)]

    async def account_balances(self) -> list[tuple[LedgerAccount, Balances]]:
        """Every account with its four counters (minor units), by id."""
        rows = await self._all(
            "SELECT id, kind, currency, participant, debits_pending, debits_posted, "
            "credits_pending, credits_posted FROM accounts ORDER BY id"
        )
        return [(LedgerAccount(r[0], AccountKind(r[1]), r[2], r[3]), Balances(*r[4:]))
                for r in rows]  # fmt: skip

    async def purchase_view(
        self,
        key: Key,
        card: tuple[str, str] | None,
        day: date | None,
        fx_since: date | None = None,
    ) -> PurchaseView:
        """Everything :class:`PurchaseView` holds for the request with ``key`` (its terminal is
        the key's), of ``card`` (card id, account id) on issuer ``day`` (and, given
        ``fx_since``, its spending abroad since that issuer day), from one snapshot
        of what is committed (:meth:`_committed_rows`)."""
        queries: list[tuple[str, Sequence[Any]]] = [(_PRE_REVERSED, key),
                                                    (_SIGNED_ON, (key[0],))]  # fmt: skip
        if card is not None and day is not None:
            card_id, account = card
            queries += [
                (_BALANCES, (account,)),
                (_SPENT_ON_DAY, (card_id, day.isoformat())),
                (_STANDIN_USAGE, (card_id, day.isoformat())),
                (_CARD_STATE, (card_id,)),
            ]
            if fx_since is not None:
                queries.append((_FX_SPENT_SINCE, (card_id, fx_since.isoformat())))
        rows = await self._committed_rows(queries)
        pre_reversed, signed_on = rows[0] is not None, bool(rows[1] and rows[1][0])
        if card is None or day is None:
            return PurchaseView(pre_reversed, signed_on)
        balances, spent, usage, state = rows[2:6]
        fx_spent = rows[6] if len(rows) > 6 else None
        return PurchaseView(
            pre_reversed,
            signed_on,
            _card_state(card[0], state),
            Balances(*balances).available if balances else 0,
            int(spent[0]) if spent else 0,
            (int(usage[0]), int(usage[1])) if usage else (0, 0),
            int(fx_spent[0]) if fx_spent else 0,
        )

    async def _first_rows(
        self, queries: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[Any, ...] | None]:
        """The first row of each of ``queries`` (SQL, parameters), in one hop to the database
        thread."""

        return await self._run(lambda db: first_rows(db, queries))

    async def _committed_rows(
        self, queries: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[Any, ...] | None]:
        """The first row of each of ``queries`` as committed, in one snapshot: the switch's
        reads of a request's terminal and card, whose events are committed before their locks
        are released (switch.ordering). The SQLite ledger reads them on a connection of the
        event loop's own, without a hop; here, as :meth:`_first_rows`."""
        return await self._first_rows(queries)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the connection's thread, in one hop (sqlite.group.run_on_thread)."""
        return await run_on_thread(self._db, work)

    async def batch_items(
        self, tid: str, day: date, after_seq: int = 0
    ) -> list[tuple[int, bool, int, str, int]]:
        """The sales and refunds of terminal ``tid`` on business ``day`` made after transfer
        ``after_seq`` (the last an earlier close of that day covered): (STAN, is refund, amount,
        state, seq) with state ``standing``, ``voided`` or ``expired``, in STAN order. The
        amount is in the terminal's currency: a payment abroad's is its merchant's leg's."""
        return [
            (int(r[0]), bool(r[1]), int(r[2]), str(r[3]), int(r[4]))
            for r in await self._all(
                "SELECT h.stan, CASE WHEN h.kind = 'refund' THEN 1 ELSE 0 END, "
                "COALESCE(x.amount, h.amount), CASE "
                "WHEN c.id IS NOT NULL OR r.phase = 'void' THEN 'voided' "
                "WHEN r.phase = 'expire' THEN 'expired' ELSE 'standing' END, h.seq "
                "FROM transfers h LEFT JOIN transfers r ON r.pending_id = h.id "
                "LEFT JOIN transfers c ON c.id = 'reversal:' || h.id AND c.phase = 'single' "
                "LEFT JOIN transfers x ON x.id = 'fx:' || h.id "
                "WHERE h.phase = 'pending' AND h.kind IN ('purchase', 'refund') "
                "AND h.tid = ? AND h.business_day = ? AND h.seq > ? "
                "UNION ALL SELECT stan, 0, amount, 'standing', seq FROM transfers "
                "WHERE kind = 'completion' AND tid = ? AND business_day = ? AND seq > ? "
                "ORDER BY 1",
                (tid, day.isoformat(), after_seq, tid, day.isoformat(), after_seq),
            )
        ]

    async def batch_closed(self, tid: str, day: date) -> int:
        """The last transfer (seq) the closes of terminal ``tid``'s batches of business ``day``
        covered so far (0: none closed)."""
        row = await self._one(
            "SELECT COALESCE(MAX(last_seq), 0) FROM batch_closes "
            "WHERE tid = ? AND business_day = ?",
            (tid, day.isoformat()),
        )
        return int(row[0]) if row else 0

    async def numbered_close(
        self, tid: str, number: int, claim: str, *, since: date
    ) -> tuple[bool, str, str] | None:
        """Terminal ``tid``'s last close, when it closed batch ``number`` with the same
        ``claim`` (digest) on business day ``since`` or later: (in balance, ledger totals,
        differences: JSON texts); None otherwise (a close sent again is a retry of the last)."""
        row = await self._one(
            "SELECT c.in_balance, c.ledger, c.differences FROM batch_closes c WHERE c.tid = ? "
            "AND c.batch_number = ? AND c.digest = ? AND c.business_day >= ? AND NOT EXISTS "
            "(SELECT 1 FROM batch_closes l WHERE l.tid = c.tid AND l.created_at > c.created_at)",
            (tid, number, claim, since.isoformat()),
        )
        return None if row is None else (bool(row[0]), str(row[1]), str(row[2]))

    async def standin_queue(self, issuer: str | None = None) -> list[StandInAdvice]:
        """The 0120 advices not replayed yet (of ``issuer``, or of all), oldest first."""
        rows = await self._all(
            "SELECT a.hold_id, a.issuer, a.card_id, a.account, a.amount, a.issuer_day "  # noqa: S608
            "FROM standin_advices a LEFT JOIN standin_replays r ON r.hold_id = a.hold_id "
            "WHERE r.hold_id IS NULL AND (CAST(? AS TEXT) IS NULL OR a.issuer = ?) "
            f"ORDER BY a.{self._QUEUE_ORDER}",
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
