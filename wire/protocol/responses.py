"""Answers that echo their request: the response model of each MTI, the fields an answer copies,
a refusal (63, 94, 96) and the 30 to a message that could not be decoded."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from pydantic import ValidationError

from wire.protocol.codec import FormatError
from wire.protocol.fields import format_transmission_time
from wire.protocol.messages import (
    AuthorizationRequest,
    AuthorizationResponse,
    BatchRequest,
    BatchResponse,
    CompletionAdvice,
    CompletionResponse,
    FinancialRequest,
    FinancialResponse,
    NetworkRequest,
    NetworkResponse,
    ReversalAdviceResponse,
    ReversalRequest,
    ReversalResponse,
)

Request = (
    FinancialRequest
    | AuthorizationRequest
    | ReversalRequest
    | CompletionAdvice
    | NetworkRequest
    | BatchRequest
)
Response = (
    FinancialResponse
    | AuthorizationResponse
    | ReversalResponse
    | CompletionResponse
    | NetworkResponse
    | BatchResponse
)

__all__ = [
    "echo",
    "error_response",
    "format_error_response",
    "response_class",
]


def echo(request: Request) -> dict[str, Any]:
    """The fields an answer copies from its request: DE7, DE11 and DE41, plus DE3 and DE4 for
    a financial or reversal message and DE90 for one about an earlier message (DE70 for network
    management, DE15 and DE60 for a batch close). A terminal believes an answer only when it
    echoes all of these (wire.protocol.matching)."""
    fields: dict[str, Any] = {
        "transmission_time": request.transmission_time,
        "stan": request.stan,
        "terminal_id": request.terminal_id,
    }
    if isinstance(request, NetworkRequest):
        fields["network_code"] = request.network_code
    elif isinstance(request, BatchRequest):
        fields["settlement_date"] = request.settlement_date
        if request.batch_number is not None:
            fields["batch_number"] = request.batch_number
    else:
        fields["processing_code"] = request.processing_code
        fields["amount"] = request.amount
        original = getattr(request, "original_data", None)
        if original is not None:
            fields["original_data"] = original
    return fields


_RESPONSE_CLASSES: dict[str, type[Response]] = {
    "0110": AuthorizationResponse,
    "0210": FinancialResponse,
    "0230": CompletionResponse,
    "0410": ReversalResponse,
    "0430": ReversalAdviceResponse,
    "0510": BatchResponse,
    "0810": NetworkResponse,
}


def response_class(response_mti: str) -> type[Response]:
    """The response model for an answer of MTI ``response_mti`` (0210 if unknown)."""
    return _RESPONSE_CLASSES.get(response_mti, FinancialResponse)


def error_response(request: Request, code: str, note: str) -> Response:
    """A refusal that echoes the request's identity (63, 94 and 96; never stored)."""
    cls = response_class(request.response_mti)
    return cls(**echo(request), response_code=code, additional_response=note)


def format_error_response(error: FormatError, tid: str, now: datetime) -> Response:
    """The answer to a message that could not be decoded: 30 on the response MTI of what could
    be read (0210 when nothing), its STAN (0 when none), DE44 naming the field at fault, and
    each identity field (DE7, DE3, DE4, ...) that could be read and is valid, so that its
    sender can match it (wire.protocol.matching); DE7 is the switch's time when it could not."""
    cls = response_class(error.response_mti)
    fields: dict[str, Any] = {
        "7": format_transmission_time(now),
        "11": error.stan if error.stan is not None else 0,
        "41": tid,
        "39": "30",
        "44": error.short,
    }
    echoed = {n: v for n, v in error.echoed.items() if n in _aliases(cls)}
    try:  # usually every field read is valid: one validation
        return cls.model_validate({**fields, **echoed})
    except ValidationError:
        pass
    for number, value in echoed.items():  # else keep those that are, one by one
        try:
            cls.model_validate({**fields, number: value})
        except ValidationError:
            continue
        fields[number] = value
    return cls.model_validate(fields)


@cache
def _aliases(cls: type[Response]) -> frozenset[str]:
    """The DE numbers a response model has."""
    return frozenset(str(info.alias) for info in cls.model_fields.values())
