"""Building the switch's answers: 0210/0410/0810 refusals, RRNs and approval codes."""

from __future__ import annotations

import hashlib
from datetime import datetime

from switch.protocol.messages import (
    FinancialRequest,
    FinancialResponse,
    NetworkRequest,
    NetworkResponse,
    ReversalRequest,
    ReversalResponse,
)

__all__ = ["approval_code", "error_response", "retrieval_reference"]


def approval_code(key: tuple[str, int, str]) -> str:
    """DE38: six characters derived from the request key (stable across replays)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:6].upper()


def retrieval_reference(now: datetime, stan: int) -> str:
    """DE37: last digit of the year, day of year, hour, STAN (12 digits)."""
    return f"{now.year % 10}{now.timetuple().tm_yday:03d}{now.hour:02d}{stan:06d}"


def error_response(
    request: FinancialRequest | ReversalRequest | NetworkRequest, code: str, note: str
) -> FinancialResponse | ReversalResponse | NetworkResponse:
    """A refusal that echoes the request's identity (63, 94 and 96; never stored)."""
    if isinstance(request, NetworkRequest):
        return NetworkResponse(
            transmission_time=request.transmission_time,
            stan=request.stan,
            terminal_id=request.terminal_id,
            response_code=code,
            additional_response=note,
            network_code=request.network_code,
        )
    cls = FinancialResponse if isinstance(request, FinancialRequest) else ReversalResponse
    return cls(
        transmission_time=request.transmission_time,
        stan=request.stan,
        terminal_id=request.terminal_id,
        processing_code=request.processing_code,
        amount=request.amount,
        response_code=code,
        additional_response=note,
    )
