"""The protocol terminals and the switch speak: ISO 8583 message models, the JSON and ISO 8583
binary codecs, topics, trace events, response codes and what an answer must echo."""

from wire.protocol import topics
from wire.protocol.codec import (
    CONTENT_TYPE_JSON,
    MAX_PAYLOAD_BYTES,
    FormatError,
    decode_request,
    decode_response,
    encode,
)
from wire.protocol.codes import APPROVED, ResponseCodeInfo, all_codes, describe
from wire.protocol.fields import format_transmission_time
from wire.protocol.messages import (
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
