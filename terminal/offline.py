"""Deciding a sale offline (EMV, pure): when the terminal cannot reach the switch, a chip sale up
to its floor limit is approved by the terminal itself (``Y3``) and kept as an 0220 advice for
store-and-forward; above the limit it is declined (``Z3``). A floor limit of 0 means online only,
the default for the Maghreb's domestic debit cards."""

from __future__ import annotations

from wire.protocol.messages import FinancialRequest, FinancialResponse, OfflineAdvice
from wire.protocol.responses import echo

__all__ = ["APPROVED_OFFLINE", "DECLINED_OFFLINE", "offline_advice", "offline_verdict"]

APPROVED_OFFLINE = "Y3"
"""EMV: approved offline, unable to go online."""
DECLINED_OFFLINE = "Z3"
"""EMV: declined offline, unable to go online."""


def offline_verdict(request: FinancialRequest, floor_limit: int) -> FinancialResponse:
    """The terminal's own answer to ``request`` it could not send: ``Y3`` with an offline
    approval code up to ``floor_limit`` minor units, ``Z3`` above it."""
    approved = request.amount <= floor_limit
    return FinancialResponse(
        **echo(request),
        response_code=APPROVED_OFFLINE if approved else DECLINED_OFFLINE,
        auth_code=f"Y3{request.stan % 10_000:04d}" if approved else None,
        merchant_id=request.merchant_id,
        currency=request.currency,
    )


def offline_advice(request: FinancialRequest, verdict: FinancialResponse) -> OfflineAdvice:
    """The 0220 advice that reports the offline approval ``verdict`` of ``request``."""
    fields = request.model_dump(by_alias=True, exclude_none=True)
    fields.update({"mti": "0220", "38": verdict.auth_code, "39": APPROVED_OFFLINE})
    fields.pop("64", None)  # sealed afresh when it is sent
    return OfflineAdvice.model_validate(fields)
