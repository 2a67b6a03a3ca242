"""The wire protocol terminals speak: ISO 8583 message models, JSON codec, topics, codes."""

from switch.protocol import topics
from switch.protocol.codec import (
    CONTENT_TYPE_JSON,
    MAX_PAYLOAD_BYTES,
    FormatError,
    decode_request,
    decode_response,
    encode,
)
from switch.protocol.codes import APPROVED, ResponseCodeInfo, all_codes, describe
from switch.protocol.fields import format_transmission_time
from switch.protocol.messages import (
    FinancialRequest,
    FinancialResponse,
    IdempotencyKey,
    IsoMessage,
    NetworkRequest,
    NetworkResponse,
    OriginalDataElements,
    Request,
    Response,
    ReversalRequest,
    ReversalResponse,
)

__all__ = [
    "APPROVED",
    "CONTENT_TYPE_JSON",
    "MAX_PAYLOAD_BYTES",
    "FinancialRequest",
    "FinancialResponse",
    "FormatError",
    "IdempotencyKey",
    "IsoMessage",
    "NetworkRequest",
    "NetworkResponse",
    "OriginalDataElements",
    "Request",
    "Response",
    "ResponseCodeInfo",
    "ReversalRequest",
    "ReversalResponse",
    "all_codes",
    "decode_request",
    "decode_response",
    "describe",
    "encode",
    "format_transmission_time",
    "topics",
]
