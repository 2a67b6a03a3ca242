"""The SQLite ledger (aiosqlite, WAL, fsync on commit): accounts, transfers, stored responses.

One connection is the single writer; callers are serialized by a lock so each business event
(transfer + balance updates + stored response) is one atomic transaction. The switch answers
a terminal only after :meth:`Ledger.record` returns, i.e. after COMMIT.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from cards.catalog import CardSet
from switch.clock import Clock, SystemClock
from switch.ledger.rules import (
    LedgerAccount,
    Transfer,
    TransferKind,
    opening_transfers,
)

__all__ = [
    "CardState",
    "DuplicateRequestError",
    "InsufficientFundsError",
    "Ledger",
    "StoredRequest",
]

Key = tuple[str, int, str]


class InsufficientFundsError(RuntimeError):
    """The database refused a debit that would overdraw a cardholder account."""


class DuplicateRequestError(RuntimeError):
    """Another writer committed the same idempotency key first; nothing was stored."""


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


_TRANSFER_COLUMNS = (
    "id, kind, debit_account, credit_account, amount, currency, card_id, tid, stan, "
    "transmission_time, issuer_day, reverses, rrn"
)


class Ledger:
    """Async access to the ledger database; use ``async with Ledger.open(path, cards)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path, clock: Clock) -> None:
        self._db = db
        self.path = path
        self._clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, cards: CardSet, clock: Clock | None = None) -> Self:
        """Open (creating if needed) the ledger at ``path`` and post the card set's opening
        balances once. Reopening an existing ledger keeps its history."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            schema = resources.files("switch.ledger").joinpath("schema.sql").read_text("utf-8")
            await db.executescript(schema)
            ledger = cls(db, path, clock or SystemClock())
            accounts, transfers = opening_transfers(cards)
            await ledger._post_openings(accounts, transfers)
        except BaseException:
            await db.close()
            raise
        return ledger

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<Ledger {self.path}>"

    # -- reads ---------------------------------------------------------------------------

    async def stored_request(self, key: Key) -> StoredRequest | None:
        """The stored answer to the request with idempotency ``key``, if any."""
        async with self._db.execute(
            "SELECT mti, digest, response_code, response, transfer_id FROM requests "
            "WHERE tid = ? AND stan = ? AND transmission_time = ?",
            key,
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return StoredRequest(row[0], row[1], row[2], bytes(row[3]), row[4])

    async def available(self, account_id: str) -> int:
        """Credits minus debits posted on ``account_id`` (minor units); 0 if unknown."""
        async with self._db.execute(
            "SELECT credits_posted - debits_posted FROM accounts WHERE id = ?", (account_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def spent_on_day(self, card_id: str, day: date) -> int:
        """Purchases of ``card_id`` on the issuer's ``day`` that were not reversed."""
        async with self._db.execute(
            "SELECT COALESCE(SUM(p.amount), 0) FROM transfers p "
            "LEFT JOIN transfers r ON r.reverses = p.id "
            "WHERE p.kind = 'purchase' AND p.card_id = ? AND p.issuer_day = ? AND r.id IS NULL",
            (card_id, day.isoformat()),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def transfer(self, transfer_id: str) -> Transfer | None:
        async with self._db.execute(
            f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE id = ?",  # noqa: S608 - constant
            (transfer_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Transfer(
            id=row[0],
            kind=TransferKind(row[1]),
            debit_account=row[2],
            credit_account=row[3],
            amount=row[4],
            currency=row[5],
            card_id=row[6],
            tid=row[7],
            stan=row[8],
            transmission_time=row[9],
            issuer_day=date.fromisoformat(row[10]) if row[10] else None,
            reverses=row[11],
            rrn=row[12],
        )

    async def reversal_of(self, transfer_id: str) -> str | None:
        """The id of the transfer that reversed ``transfer_id``, if any."""
        async with self._db.execute(
            "SELECT id FROM transfers WHERE reverses = ?", (transfer_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def is_pre_reversed(self, key: Key) -> bool:
        """True when a reversal for the request with ``key`` arrived before the request."""
        async with self._db.execute(
            "SELECT 1 FROM orphan_reversals WHERE tid = ? AND stan = ? AND transmission_time = ?",
            key,
        ) as cursor:
            return await cursor.fetchone() is not None

    async def card_state(self, card_id: str) -> CardState:
        """The issuer's security state of ``card_id`` (no row yet: no failures, no ATC)."""
        async with self._db.execute(
            "SELECT pin_failures, last_atc FROM card_security WHERE card_id = ?", (card_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return CardState(card_id, 0, None)
        return CardState(card_id, int(row[0]), None if row[1] is None else int(row[1]))

    async def is_signed_on(self, tid: str) -> bool:
        """True when ``tid``'s last network message was a sign-on (shared by all workers)."""
        async with self._db.execute(
            "SELECT signed_on FROM terminal_sessions WHERE tid = ?", (tid,)
        ) as cursor:
            row = await cursor.fetchone()
        return bool(row and row[0])

    # -- writes --------------------------------------------------------------------------

    async def set_signed_on(self, tid: str, signed_on: bool) -> None:
        async with self._lock:
            await self._db.execute(
                "INSERT INTO terminal_sessions (tid, signed_on, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (tid) DO UPDATE SET signed_on = excluded.signed_on, "
                "updated_at = excluded.updated_at",
                (tid, int(signed_on), self._stamp()),
            )

    async def record(
        self,
        key: Key,
        *,
        mti: str,
        digest: str,
        response_code: str,
        response: bytes,
        transfer: Transfer | None = None,
        merchant: LedgerAccount | None = None,
        orphan_reversal_of: Key | None = None,
        card_state: CardState | None = None,
    ) -> None:
        """Atomically store a request's answer, with the transfer it makes (if any).

        ``merchant`` is created on first use. ``orphan_reversal_of`` remembers a reversal whose
        original is unknown. ``card_state`` is the card's new security state.
        Raises InsufficientFundsError (nothing stored) when the database refuses to overdraw a
        cardholder.
        """
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                if merchant is not None:
                    await self._ensure_account(merchant)
                if transfer is not None:
                    await self._apply(transfer)
                if card_state is not None:
                    await self._db.execute(
                        "INSERT INTO card_security (card_id, pin_failures, last_atc, updated_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (card_id) DO UPDATE SET "
                        "pin_failures = excluded.pin_failures, last_atc = excluded.last_atc, "
                        "updated_at = excluded.updated_at",
                        (card_state.card_id, card_state.pin_failures, card_state.last_atc,
                         self._stamp()),
                    )  # fmt: skip
                if orphan_reversal_of is not None:
                    await self._db.execute(
                        "INSERT OR IGNORE INTO orphan_reversals VALUES (?, ?, ?, ?)",
                        (*orphan_reversal_of, self._stamp()),
                    )
                await self._insert_once(
                    "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *key,
                        mti,
                        digest,
                        response_code,
                        response,
                        transfer.id if transfer else None,
                        self._stamp(),
                    ),
                )
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    # -- internals -----------------------------------------------------------------------

    async def _insert_once(self, sql: str, values: tuple[object, ...]) -> None:
        """INSERT a row whose key must be new; a UNIQUE clash means another writer won."""
        try:
            await self._db.execute(sql, values)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                raise
            raise DuplicateRequestError(str(exc)) from None

    def _stamp(self) -> str:
        return self._clock.now().isoformat(timespec="microseconds")

    async def _ensure_account(self, account: LedgerAccount) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO accounts (id, kind, currency) VALUES (?, ?, ?)",
            (account.id, account.kind.value, account.currency),
        )

    async def _apply(self, transfer: Transfer) -> None:
        try:
            await self._db.execute(
                "UPDATE accounts SET debits_posted = debits_posted + ? WHERE id = ?",
                (transfer.amount, transfer.debit_account),
            )
        except sqlite3.IntegrityError as exc:
            raise InsufficientFundsError(f"{transfer.debit_account}: {exc}") from None
        await self._db.execute(
            "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
            (transfer.amount, transfer.credit_account),
        )
        await self._insert_once(
            f"INSERT INTO transfers ({_TRANSFER_COLUMNS}, created_at) "  # noqa: S608 - constant
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                transfer.id,
                transfer.kind.value,
                transfer.debit_account,
                transfer.credit_account,
                transfer.amount,
                transfer.currency,
                transfer.card_id,
                transfer.tid,
                transfer.stan,
                transfer.transmission_time,
                transfer.issuer_day.isoformat() if transfer.issuer_day else None,
                transfer.reverses,
                transfer.rrn,
                self._stamp(),
            ),
        )

    async def _post_openings(
        self, accounts: list[LedgerAccount], transfers: list[Transfer]
    ) -> None:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for account in accounts:
                    await self._ensure_account(account)
                async with self._db.execute(
                    "SELECT id FROM transfers WHERE kind = 'opening'"
                ) as cursor:
                    done = {row[0] for row in await cursor.fetchall()}
                for transfer in transfers:
                    if transfer.id not in done:
                        await self._apply(transfer)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
