"""Messages that resolve an earlier hold: 0400/0420 reversals and 0220 completions.

Each names its original in DE90. A reversal of a pending hold voids it (of a cleared one,
corrects it with a transfer back); a reversal whose original is unknown is stored and
acknowledged, and the original, if it ever arrives, is declined. A completion posts all or part
of an 0100 pre-authorization hold; the rest goes back to the cardholder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from switch.ledger.postings import MIDNIGHT, business_day, completion_post, reversal_of_hold
from switch.ledger.reads import Key
from switch.ledger.rules import Phase, Transfer, fx_leg_id, pays_exchange_desk
from switch.ledger.where import AnyLedger
from wire.protocol.messages import (
    CompletionAdvice,
    CompletionResponse,
    ReversalAdvice,
    ReversalAdviceResponse,
    ReversalRequest,
    ReversalResponse,
)
from wire.protocol.responses import echo
from wire.registry import Registry

__all__ = ["Resolution", "complete", "reverse"]

REVERSIBLE = ("0200", "0100")
_STATE_WORDS = {Phase.VOID: "reversed", Phase.EXPIRE: "expired", Phase.POST: "completed"}


@dataclass(frozen=True, slots=True)
class Resolution:
    """What to store for a reversal or completion: the answer, its transfer, and (for a
    reversal that came before its original) the original's key to remember."""

    response: ReversalResponse | CompletionResponse
    transfer: Transfer | None = None
    orphan: Key | None = None
    fx_leg: Transfer | None = None
    """The reversal of the merchant's leg of a payment abroad, made with ``transfer``."""

    @property
    def transfers(self) -> list[Transfer]:
        """What to commit with the answer."""
        return [t for t in (self.transfer, self.fx_leg) if t is not None]

    @property
    def note(self) -> str | None:
        return self.response.additional_response


async def _hold_of(ledger: AnyLedger, key: Key) -> tuple[bool, Transfer | None, Transfer | None]:
    """(original known?, its hold, the hold's resolution) for the request with ``key``."""
    stored = await ledger.stored_request(key)
    if stored is None:
        return False, None, None
    if stored.transfer_id is None:
        return True, None, None
    hold = await ledger.transfer(stored.transfer_id)
    if hold is None:
        raise RuntimeError(f"stored request names missing transfer {stored.transfer_id}")
    return True, hold, await ledger.resolution_of(hold.id)


async def reverse(ledger: AnyLedger, request: ReversalRequest) -> Resolution:
    """Decide an 0400: void the original's hold (00), or say why there is nothing to do. A
    payment abroad is reversed in both its legs; DE4 is compared with the merchant's."""
    code, note, transfer, orphan, leg_reversal = "00", None, None, None, None
    known, hold, resolution = await _hold_of(ledger, request.original_key)
    leg = None
    if hold is not None and pays_exchange_desk(hold):  # a payment abroad: its merchant's leg
        leg = await ledger.transfer(fx_leg_id(hold.id))
    if request.original.mti not in REVERSIBLE:
        code, note = "12", f"cannot reverse an {request.original.mti}"
    elif not known:
        note, orphan = "original unknown; stored", request.original_key
    elif hold is None:
        note = "original was declined"
    elif (leg or hold).amount != request.amount:
        code, note = "13", "amount differs from orig."
    elif resolution is not None and (
        resolution.phase is not Phase.POST or resolution.id.startswith("completion:")
    ):
        note = f"already {_STATE_WORDS[resolution.phase]}"
    else:
        transfer = reversal_of_hold(hold, resolution, key=request.key)
        if leg is not None:
            leg_resolution = await ledger.resolution_of(leg.id)
            leg_reversal = reversal_of_hold(leg, leg_resolution, key=request.key)
        note = "reversed after clearing" if resolution else None
    cls = ReversalAdviceResponse if isinstance(request, ReversalAdvice) else ReversalResponse
    response = cls(
        **echo(request),
        response_code=code,
        additional_response=note,
    )
    return Resolution(response, transfer, orphan, leg_reversal)


async def complete(
    ledger: AnyLedger,
    request: CompletionAdvice,
    *,
    registry: Registry,
    now: datetime,
    cutoff: time = MIDNIGHT,
) -> Resolution:
    """Decide an 0220: post DE4 of the pre-authorization's hold (00), or refuse (12, 13)."""
    code, note, transfer = "00", None, None
    known, hold, resolution = await _hold_of(ledger, request.original_key)
    terminal = registry.get(request.terminal_id)
    if request.original.mti != "0100":
        code, note = "12", "original is not an 0100"
    elif not known or hold is None or terminal is None:
        code, note = "12", "no approved 0100"
    elif resolution is not None:
        code, note = "12", f"hold already {_STATE_WORDS[resolution.phase]}"
    elif request.amount > hold.amount:
        code, note = "13", "above the authorized amt"
    elif request.amount <= 0:
        code, note = "13", "zero amount"
    else:
        day = business_day(terminal.merchant.country_info.timezone, now, cutoff)
        transfer = completion_post(hold, key=request.key, amount=request.amount, business_day=day)
    response = CompletionResponse(
        **echo(request),
        response_code=code,
        additional_response=note,
    )
    return Resolution(response, transfer)
