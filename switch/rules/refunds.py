"""Refunds bounded by what was paid: the rule, and what the ledger says of a refund's sale.

A refund (0200, DE3 20) may name the sale it gives money back from in DE90 (MTI, STAN and DE7
of the sale, at the same terminal). Such a refund is approved only up to what the sale captured
(its goods: the cash of a purchase with cash-back is not refundable) less the refunds of it that
still stand (pending ones included), and only to the sale's card. A refund that names no sale
(an unreferenced refund) is bounded by its merchant's policy (``unreferenced_refund_limit`` in
wire/data/merchants.yaml; ``"0"``: refunds need their sale).

:func:`refund_refusal` and :func:`captured` are pure; :func:`refund_original` reads the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from switch.ledger.rules import Phase, Transfer, TransferKind, fx_leg_id, pays_exchange_desk
from wire.protocol.amounts import CASH_BACK, amount_of
from wire.protocol.codec import FormatError, decode_response
from wire.protocol.messages import FinancialRequest, OriginalDataElements

if TYPE_CHECKING:  # the rules stay importable without the ledger's I/O libraries
    from switch.ledger.where import AnyLedger

__all__ = ["RefundOriginal", "captured", "refund_link", "refund_original", "refund_refusal"]

REFUNDABLE = {"0200": TransferKind.PURCHASE, "0100": TransferKind.PREAUTH}
"""The MTIs a refund's DE90 may name, and the hold kind each made."""


@dataclass(frozen=True, slots=True)
class RefundOriginal:
    """The sale a refund names, as the ledger has it (minor units of the terminal's currency).

    ``hold_id`` is None when DE90 names no approved sale (or completed pre-authorization) of
    this terminal under that MTI, STAN and DE7."""

    hold_id: str | None
    card_id: str | None = None
    captured: int = 0
    """What the sale took and keeps: its hold, or what was posted of it; 0 once voided,
    expired or reversed after clearing."""
    refunded: int = 0
    """The refunds of it that stand (pending or cleared; not voided, expired nor reversed)."""

    @property
    def left(self) -> int:
        """What refunds may still give back."""
        return max(self.captured - self.refunded, 0)


def captured(hold: Transfer, resolution: Transfer | None, *, corrected: bool) -> int:
    """What the sale whose hold is ``hold`` keeps: a purchase its hold until resolved, then
    what was posted; a pre-authorization only what a completion posted; nothing once voided,
    expired or ``corrected`` (reversed after clearing)."""
    if corrected:
        return 0
    if resolution is None:
        return hold.amount if hold.kind is TransferKind.PURCHASE else 0
    if resolution.phase is not Phase.POST:
        return 0
    return resolution.amount or hold.amount


def refund_refusal(
    amount: int, card_id: str, original: RefundOriginal | None, *, unreferenced_max: int
) -> tuple[str, str] | None:
    """Why a refund of ``amount`` to card ``card_id`` is declined, (DE39, DE44), or None when
    it may go. ``original``: the sale its DE90 names (None: it names none), bounded by what
    the sale left; an unreferenced refund by ``unreferenced_max`` (0: not allowed)."""
    if original is None:
        if unreferenced_max <= 0:
            return "57", "refund needs its sale"
        if amount > unreferenced_max:
            return "13", "over unreferenced limit"
        return None
    if original.hold_id is None:
        return "25", "original sale not found"
    if original.card_id != card_id:
        return "12", "not the sale's card"
    if amount > original.left:
        return "13", "over what the sale left"
    return None


def _cash_of(stored_response: bytes) -> int:
    """The cash a purchase with cash-back handed over (DE54 of its stored 0210): not goods, so
    not refundable; 0 for any other sale."""
    try:
        answer = decode_response(stored_response)
    except FormatError:
        return 0
    amounts = getattr(answer, "additional_amounts", None)
    cash = amount_of(amounts, CASH_BACK) if answer.response_code == "00" else None
    return cash.amount if cash is not None else 0


def refund_link(refund_id: str, original_id: str) -> tuple[str, tuple[str, str]]:
    """The row recording that the refund hold ``refund_id`` gives back from the sale hold
    ``original_id``, committed with the refund's hold."""
    return "INSERT INTO refunds (refund_id, original_id) VALUES (?, ?)", (refund_id, original_id)


async def refund_original(ledger: AnyLedger, request: FinancialRequest) -> RefundOriginal | None:
    """What the ledger has of the sale ``request``'s DE90 names (None when it names none)."""
    if request.original_data is None:
        return None
    named = OriginalDataElements.parse(request.original_data)
    stored = await ledger.stored_request((request.terminal_id, named.stan, named.transmission_time))
    kind = REFUNDABLE.get(named.mti)
    if stored is None or stored.mti != named.mti or kind is None or stored.transfer_id is None:
        return RefundOriginal(None)
    hold = await ledger.transfer(stored.transfer_id)
    if hold is None or hold.kind is not kind:
        return RefundOriginal(None)
    resolution = await ledger.resolution_of(hold.id)
    corrected = await ledger.transfer(f"reversal:{hold.id}") is not None
    kept = max(captured(hold, resolution, corrected=corrected) - _cash_of(stored.response), 0)
    if pays_exchange_desk(hold):  # paid abroad: the merchant's leg is in the terminal's currency
        leg = await ledger.transfer(fx_leg_id(hold.id))
        kept = 0 if leg is None or not kept else leg.amount
    return RefundOriginal(
        hold.id, hold.card_id, captured=kept, refunded=await ledger.refunded_of(hold.id)
    )
