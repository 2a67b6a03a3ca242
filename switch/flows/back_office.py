"""The issuer's back office: unblock a card (its wrong-PIN count back to 0), block it, or set
its account's available balance, each an auditable event in the ledger (``card_events``).

These act on the ledger's card state (``card_security``: wrong PINs, last ATC, blocked), not on
the card set's data: a test card shipped ``lost`` stays lost (it forces its decline by design),
while a card the switch locked after three wrong PINs (75) is unblocked here, as a real
issuer's back office would. A block answers 62 ``blocked by issuer`` until an unblock. A new
balance is reached by one adjustment transfer between the issuer and the cardholder account,
so the ledger stays double-entry and its history append-only.

Each action commits its state change, its transfer and its event together (``Ledger.post``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cards.catalog import CardSet
from cards.currency import format_money
from switch.ledger.rules import Phase, Transfer, TransferKind, issuer_account_id
from switch.ledger.sql import micros

if TYPE_CHECKING:  # the event builders stay importable without the ledger's I/O libraries
    from switch.ledger.where import AnyLedger

__all__ = ["ACTIONS", "MAX_REASON", "Action", "CardEvent", "administer", "event_from_row"]

MAX_REASON = 200
"""The longest reason an event keeps (characters, printable: one line in a history)."""

Action = Literal["unblock", "block", "set-balance"]
ACTIONS: tuple[Action, ...] = ("unblock", "block", "set-balance")

_STATE = (
    "INSERT INTO card_security (card_id, pin_failures, last_atc, blocked, updated_at) "
    "VALUES (?, 0, NULL, ?, ?) ON CONFLICT (card_id) DO UPDATE SET {changes}, "
    "updated_at = excluded.updated_at"
)
_UNBLOCK = _STATE.format(changes="pin_failures = 0, blocked = 0")
_BLOCK = _STATE.format(changes="blocked = 1")
_EVENT = (
    "INSERT INTO card_events (card_id, action, detail, actor, created_at) VALUES (?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class CardEvent:
    """One back-office action on a card: what, why (``detail``, JSON), who, when (ISO 8601)."""

    card_id: str
    action: str
    detail: dict[str, Any]
    actor: str
    at: str

    def describe(self) -> str:
        """One line for a person: ``2026-12-07T09:30 EDH-VALID unblock by cli: reason``."""
        extra = ", ".join(f"{k} {v}" for k, v in self.detail.items())
        return f"{self.at} {self.card_id} {self.action} by {self.actor}" + (
            f": {extra}" if extra else ""
        )


async def administer(
    ledger: AnyLedger,
    cards: CardSet,
    card_id: str,
    action: Action,
    *,
    now: datetime,
    actor: str,
    reason: str = "",
    balance: int | None = None,
) -> CardEvent:
    """Do ``action`` on card ``card_id`` and record it; the event. ``balance`` (minor units of
    the card account's currency, at least 0) is what ``set-balance`` makes available. KeyError
    for an unknown card, ValueError for a balance the account cannot reach (below what its
    holds already take, or missing) or a reason that is not one printable line."""
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise ValueError(f"a reason is at most {MAX_REASON} printable characters (no line breaks)")
    if not actor or len(actor) > MAX_REASON or not actor.isprintable():
        raise ValueError(f"an actor is 1 to {MAX_REASON} printable characters (no line breaks)")
    card = cards.card(card_id)
    stamp = now.isoformat(timespec="microseconds")
    detail: dict[str, Any] = {"reason": reason} if reason else {}
    transfers: list[Transfer] = []
    rows: list[tuple[str, tuple[Any, ...]]] = []
    if action == "unblock":
        rows.append((_UNBLOCK, (card.id, 0, stamp)))
    elif action == "block":
        rows.append((_BLOCK, (card.id, 1, stamp)))
    else:
        account = cards.accounts[card.account]
        if balance is None or balance < 0:
            raise ValueError("set-balance needs a balance of at least 0")
        available = await ledger.available(account.id)
        change = balance - available
        detail |= {
            "from": format_money(available, account.currency),
            "to": format_money(balance, account.currency),
        }
        if change:
            issuer = issuer_account_id(cards.products[card.product].issuer, account.currency)
            up = change > 0
            transfers.append(Transfer(
                id=f"adjustment:{account.id}:{micros(now)}",
                kind=TransferKind.ADJUSTMENT,
                phase=Phase.SINGLE,
                debit_account=issuer if up else account.id,
                credit_account=account.id if up else issuer,
                amount=abs(change),
                currency=account.currency,
                card_id=card.id,
            ))  # fmt: skip
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
    rows.append((_EVENT, (card.id, action, text, actor, stamp)))
    await ledger.post(transfers, rows=rows)
    return CardEvent(card.id, action, detail, actor, stamp)


def event_from_row(row: tuple[Any, ...]) -> CardEvent:
    """A ``card_events`` row (as ``LedgerReads.card_events`` gives it) as an event."""
    card_id, action, detail, actor, at = row
    return CardEvent(str(card_id), str(action), dict(json.loads(detail)), str(actor), str(at))
