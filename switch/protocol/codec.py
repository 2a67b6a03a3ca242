"""JSON encoding of protocol messages, and decoding that names the faulty field.

``decode_request`` never lets a library exception escape: anything wrong with a payload becomes
a :class:`FormatError` carrying what could still be read (MTI, STAN), so the switch can answer
with DE39 30 on the sender's response topic.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from switch.protocol.messages import IsoMessage, Request, Response

__all__ = [
    "CONTENT_TYPE_JSON",
    "MAX_PAYLOAD_BYTES",
    "FormatError",
    "decode_request",
    "decode_response",
    "encode",
]

CONTENT_TYPE_JSON = "application/json"
MAX_PAYLOAD_BYTES = 8192
"""Larger payloads are refused before parsing: bounded work per message."""

_REQUESTS: TypeAdapter[Request] = TypeAdapter(Request)
_RESPONSES: TypeAdapter[Response] = TypeAdapter(Response)
_REQUEST_MTIS = {
    "0100": "0110",
    "0200": "0210",
    "0220": "0230",
    "0400": "0410",
    "0420": "0430",
    "0421": "0430",
    "0500": "0510",
    "0800": "0810",
}

M = TypeVar("M", bound=IsoMessage)


class FormatError(ValueError):
    """A message that cannot be decoded, with the field at fault and what could be salvaged.

    ``str()`` holds no field values, so it is safe to log; ``short`` fits DE44 (25 chars).
    """

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        mti: str | None = None,
        stan: int | None = None,
    ) -> None:
        self.reason = reason
        self.field = field
        self.mti = mti
        self.stan = stan
        where = f"field {field}: " if field else ""
        super().__init__(f"{where}{reason}")

    @property
    def response_mti(self) -> str:
        """The MTI to answer with: 0810 for an 0800, 0410 for an 0400, else 0210."""
        return _REQUEST_MTIS.get(self.mti or "", "0210")

    @property
    def short(self) -> str:
        """At most 25 characters for DE44, e.g. ``"format error: DE4"``."""
        if self.field is None:
            return self.reason[:25]
        label = self.field if self.field == "mti" else f"DE{self.field}"
        return f"format error: {label}"[:25]


def encode(message: BaseModel) -> bytes:
    """The JSON wire form of ``message``: DE numbers as keys, absent elements left out."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


_MTI_TEXT = re.compile(rb'"mti"\s*:\s*"([0-9]{4})"')
_STAN_TEXT = re.compile(rb'"11"\s*:\s*"?([0-9]{6})\b')


def _salvage(payload: bytes) -> tuple[str | None, int | None]:
    """Best-effort MTI and STAN from a payload that failed validation, so the sender can
    match the format-error response to its request (even when the JSON is cut short)."""
    try:
        raw: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        mti_text = _MTI_TEXT.search(payload)
        stan_text = _STAN_TEXT.search(payload)
        return (
            mti_text.group(1).decode() if mti_text else None,
            int(stan_text.group(1)) if stan_text else None,
        )
    if not isinstance(raw, dict):
        return None, None
    mti = raw.get("mti") if isinstance(raw.get("mti"), str) else None
    stan_raw = raw.get("11")
    stan: int | None = None
    if isinstance(stan_raw, int) and not isinstance(stan_raw, bool) and 0 <= stan_raw < 10**6:
        stan = stan_raw
    elif isinstance(stan_raw, str) and len(stan_raw) == 6 and stan_raw.isdigit():
        stan = int(stan_raw)
    return mti, stan


def _format_error(exc: ValidationError, payload: bytes) -> FormatError:
    mti, stan = _salvage(payload)
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


def _decode(adapter: TypeAdapter[Any], payload: bytes) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise FormatError(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        return adapter.validate_json(payload)
    except ValidationError as exc:
        raise _format_error(exc, payload) from None


def decode_request(payload: bytes) -> Request:
    """Decode a terminal → switch message (0200, 0400 or 0800); FormatError if malformed."""
    message: Request = _decode(_REQUESTS, payload)
    return message


def decode_response(payload: bytes) -> Response:
    """Decode a switch → terminal message (0210, 0410 or 0810); FormatError if malformed."""
    message: Response = _decode(_RESPONSES, payload)
    return message
