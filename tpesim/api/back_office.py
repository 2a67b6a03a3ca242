"""The issuer's back office over HTTP (``tpesim serve``): unblock or block a test card, set its
account's balance, and read what was done, each action an event in the ledger
(switch.flows.back_office). The same actions as ``tpesim cards unblock|block|set-balance``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cards.catalog import CardSet
from cards.currency import MAX_MINOR
from switch.flows.back_office import MAX_REASON, Action, CardEvent, administer, event_from_row
from switch.ledger.errors import InsufficientFundsError, LedgerRefusalError
from switch.ledger.where import AnyLedger
from tpesim.api.desk import ApiError
from wire.clock import Clock

__all__ = ["BalanceRequest", "CardEventOut", "CardNote", "back_office_router"]


class CardNote(BaseModel):
    """Why the back office acts (kept with the event)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(
        default="", max_length=MAX_REASON, description="Why, recorded with the event (one line)."
    )

    @field_validator("reason")
    @classmethod
    def _one_line(cls, reason: str) -> str:
        if not reason.isprintable():
            raise ValueError("a reason is one line of printable characters")
        return reason


class BalanceRequest(CardNote):
    """The available balance to set, minor units of the card account's currency."""

    available_minor: Annotated[int, Field(strict=True, ge=0, le=MAX_MINOR)] = Field(
        description="What the card may spend afterwards (a JSON integer, minor units)."
    )


class CardEventOut(BaseModel):
    """One back-office action: on which card, what, the details, who, when (ISO 8601)."""

    card_id: str
    action: str
    detail: dict[str, Any]
    actor: str
    at: str

    @classmethod
    def of(cls, event: CardEvent) -> CardEventOut:
        return cls(card_id=event.card_id, action=event.action, detail=event.detail,
                   actor=event.actor, at=event.at)  # fmt: skip


def back_office_router(ledger: AnyLedger, cards: CardSet, clock: Clock) -> APIRouter:
    """``/v1/cards/{card_id}/unblock|block|balance|events`` over ``ledger``."""
    router = APIRouter(prefix="/v1/cards", tags=["issuer back office"])

    async def act(card_id: str, action: Action, note: CardNote, balance: int | None = None) -> Any:
        try:
            cards.card(card_id)
        except KeyError:
            raise ApiError(404, "no such card", f"no test card {card_id[:40]!r}") from None
        try:
            event = await administer(ledger, cards, card_id, action, now=clock.now(),
                                     actor="api", reason=note.reason, balance=balance)  # fmt: skip
        except (ValueError, InsufficientFundsError, LedgerRefusalError) as error:
            raise ApiError(409, "not possible now", str(error)) from None
        return CardEventOut.of(event)

    @router.post("/{card_id}/unblock", response_model=CardEventOut)
    async def unblock(card_id: str, note: CardNote | None = None) -> Any:
        """Let the card pay again: wrong PINs back to 0 (after 75), any block lifted."""
        return await act(card_id, "unblock", note or CardNote())

    @router.post("/{card_id}/block", response_model=CardEventOut)
    async def block(card_id: str, note: CardNote | None = None) -> Any:
        """Block the card at its issuer: every payment answered 62 until unblocked."""
        return await act(card_id, "block", note or CardNote())

    @router.put("/{card_id}/balance", response_model=CardEventOut)
    async def set_balance(card_id: str, body: BalanceRequest) -> Any:
        """Set what the card may spend: one adjustment transfer, issuer ↔ cardholder."""
        return await act(card_id, "set-balance", body, body.available_minor)

    @router.get("/{card_id}/events", response_model=list[CardEventOut])
    async def events(card_id: str) -> Any:
        """The back office's actions on the card, oldest first."""
        try:
            cards.card(card_id)
        except KeyError:
            raise ApiError(404, "no such card", f"no test card {card_id[:40]!r}") from None
        rows = await ledger.card_events(card_id)
        return [CardEventOut.of(event_from_row(row)) for row in rows]

    return router
