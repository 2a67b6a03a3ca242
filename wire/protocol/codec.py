"""Encoding and decoding of protocol messages, JSON or ISO 8583 binary, with decoding errors
that name the faulty field.

``decode_request`` never lets a library exception escape: anything wrong with a payload becomes
a :class:`FormatError` carrying what could still be read (MTI, STAN), so the switch can answer
with DE39 30 on the sender's response topic. Both encodings carry the same data elements and
go through the same models: the binary form is turned into the JSON wire form
(``wire.protocol.iso8583``) and validated as JSON is.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from wire.protocol.errors import FormatError
from wire.protocol.iso8583 import from_iso8583, to_iso8583
from wire.protocol.messages import Request, Response

__all__ = [
    "CONTENT_TYPE_ISO8583",
    "CONTENT_TYPE_JSON",
    "MAX_PAYLOAD_BYTES",
    "Encoding",
    "FormatError",
    "content_digest",
    "decode_request",
    "decode_response",
    "encode",
    "encoding_of_content_type",
]

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_ISO8583 = "application/iso8583"
"""The MQTT 5 Content Type of a binary ISO 8583 message (no IANA type exists; tpesim's name)."""


class Encoding(StrEnum):
    """How a message is written on the wire: JSON (DE numbers as keys) or ISO 8583 binary."""

    JSON = "json"
    ISO8583 = "iso8583"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPE_ISO8583 if self is Encoding.ISO8583 else CONTENT_TYPE_JSON


def encoding_of_content_type(content_type: str | None) -> Encoding | None:
    """The encoding an MQTT 5 Content Type names; None when absent or unknown."""
    return {CONTENT_TYPE_JSON: Encoding.JSON, CONTENT_TYPE_ISO8583: Encoding.ISO8583}.get(
        (content_type or "").split(";")[0].strip().lower()
    )


MAX_PAYLOAD_BYTES = 8192
"""Larger payloads are refused before parsing: bounded work per message."""

_REQUESTS: TypeAdapter[Request] = TypeAdapter(Request)
_RESPONSES: TypeAdapter[Response] = TypeAdapter(Response)


def encode(message: BaseModel, encoding: Encoding = Encoding.JSON) -> bytes:
    """The wire form of ``message``: JSON with DE numbers as keys, absent elements left out;
    or the same elements in ISO 8583 binary."""
    if encoding is Encoding.ISO8583:
        return to_iso8583(message.model_dump(mode="json", by_alias=True, exclude_none=True))
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


_MTI_TEXT = re.compile(rb'"mti"\s*:\s*"([0-9]{4})"')
_STAN_TEXT = re.compile(rb'"11"\s*:\s*"?([0-9]{6})\b')


def _salvage(payload: bytes) -> tuple[str | None, int | None, dict[str, object]]:
    """Best-effort MTI, STAN and the other identity fields (FormatError.ECHOED, as written)
    from a payload that failed validation, so the sender can match the format-error response
    to its request (MTI and STAN even when the JSON is cut short)."""
    try:
        raw: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        mti_text = _MTI_TEXT.search(payload)
        stan_text = _STAN_TEXT.search(payload)
        return (
            mti_text.group(1).decode() if mti_text else None,
            int(stan_text.group(1)) if stan_text else None,
            {},
        )
    if not isinstance(raw, dict):
        return None, None, {}
    mti = raw.get("mti") if isinstance(raw.get("mti"), str) else None
    stan_raw = raw.get("11")
    stan: int | None = None
    if isinstance(stan_raw, int) and not isinstance(stan_raw, bool) and 0 <= stan_raw < 10**6:
        stan = stan_raw
    elif isinstance(stan_raw, str) and len(stan_raw) == 6 and stan_raw.isdigit():
        stan = int(stan_raw)
    return mti, stan, {number: raw[number] for number in FormatError.ECHOED if number in raw}


def _format_error(exc: ValidationError, payload: bytes) -> FormatError:
    mti, stan, echoed = _salvage(payload)
    error = _format_error_of(exc, mti, stan)
    error.echoed = echoed
    return error


def _format_error_of(exc: ValidationError, mti: str | None, stan: int | None) -> FormatError:
    first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    kind = first["type"]
    if kind == "json_invalid":
        return FormatError("not valid JSON", mti=mti, stan=stan)
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return FormatError("not a JSON object", mti=mti, stan=stan)
    if kind in {"union_tag_not_found", "union_tag_invalid"}:
        return FormatError("unknown or missing MTI", field="mti", mti=mti, stan=stan)
    loc = [str(part) for part in first["loc"]]
    field = loc[1] if len(loc) > 1 else (loc[0] if loc else None)
    reason = "unexpected field" if kind == "extra_forbidden" else first["msg"]
    if kind == "missing":
        reason = "required field missing"
    return FormatError(reason, field=field, mti=mti, stan=stan)


def _decode(adapter: TypeAdapter[Any], payload: bytes, encoding: Encoding) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise FormatError(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    where: dict[str, int] = {}
    if encoding is Encoding.ISO8583:
        wire, where = from_iso8583(payload)
        payload = json.dumps(wire).encode()
    try:
        return adapter.validate_json(payload)
    except ValidationError as exc:
        error = _format_error(exc, payload)
        if error.field in where:
            error = FormatError(error.reason, field=error.field, mti=error.mti, stan=error.stan,
                                offset=where[error.field], echoed=error.echoed)  # fmt: skip
        raise error from None


def decode_request(payload: bytes, encoding: Encoding = Encoding.JSON) -> Request:
    """Decode a terminal → switch message (0200, 0400 or 0800); FormatError if malformed."""
    message: Request = _decode(_REQUESTS, payload, encoding)
    return message


def decode_response(payload: bytes, encoding: Encoding = Encoding.JSON) -> Response:
    """Decode a switch → terminal message (0210, 0410 or 0810); FormatError if malformed."""
    message: Response = _decode(_RESPONSES, payload, encoding)
    return message


def content_digest(message: BaseModel) -> str:
    """A request's content fingerprint, for idempotency: the security envelope (DE53 KSN, DE64
    MAC) is left out, so a repeat sealed under a fresh DUKPT key has the same digest."""
    envelope = {name: None for name in ("ksn", "mac") if getattr(message, name, None)}
    return hashlib.sha256(encode(message.model_copy(update=envelope))).hexdigest()
