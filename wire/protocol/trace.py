"""Trace events: one per message per hop, for dashboards, trainers and reports.

Published at QoS 0 on ``sim/trace/{tid}`` by the terminal (what it sent, what came back, what
timed out or was lost) and by the switch (what it received, what it answered and what that did
to the ledger). Each carries the message itself, made safe: PANs masked, PIN block, track 2,
card code and chip data redacted (``cards.masking``). A dashboard orders a transaction's events
by ``at`` into its message ladder."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from cards.masking import redact_wire_text
from wire.protocol.codec import MAX_PAYLOAD_BYTES, Encoding, FormatError
from wire.protocol.iso8583 import from_iso8583

__all__ = ["Hop", "TraceEvent", "TraceKind", "trace_event"]

Hop = Literal["terminal", "switch"]
TraceKind = Literal["sent", "received", "answered", "timeout", "late", "stray", "lost"]


class TraceEvent(BaseModel):
    """What one hop did with one message, and when (the hop's own clock)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    tid: str
    hop: Hop
    event: TraceKind
    mti: str | None
    stan: int | None
    response_code: str | None = None
    notes: tuple[str, ...] = ()
    """What else happened: the ledger's transfers, a reversal's fate, why a message was lost."""
    route: str | None = None
    """Who decided an answer: ``issuer:{id}`` or ``stand-in:{id}`` (None: the switch)."""
    reason: str | None = None
    """Why the answer is what it is, in a few words."""
    message: dict[str, Any] = {}
    """The message as it crossed this hop, PAN masked and secrets redacted (in its JSON form
    whatever its encoding)."""
    encoding: Encoding = Encoding.JSON
    """How the message was written on the wire."""
    wire_bytes: int = 0
    """Its size on the wire, in bytes."""


def trace_event(
    hop: Hop,
    event: TraceKind,
    tid: str,
    payload: bytes,
    *,
    at: datetime,
    notes: tuple[str, ...] = (),
    route: str | None = None,
    reason: str | None = None,
    encoding: Encoding = Encoding.JSON,
    view: bytes | None = None,
) -> bytes:
    """The encoded trace event for ``payload`` (raw wire bytes, in ``encoding``) crossing
    ``hop``. ``view``: the same message in its JSON form, when the caller has it (then a
    binary payload is not decoded again)."""
    wire = view or payload
    # Bounded work per message: one over the size limit was refused unread; its event gives
    # its size, not its content (masking and parsing 8 KB of a flood cost 0.5 ms each).
    text = "" if len(wire) > MAX_PAYLOAD_BYTES else wire.decode("utf-8", "replace")
    if text and encoding is Encoding.ISO8583 and view is None:
        try:
            text = json.dumps(from_iso8583(payload)[0])
        except FormatError:
            text = ""
    try:
        message = json.loads(redact_wire_text(text))
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        message = {}
    message = _flat(message) if isinstance(message, dict) else {}
    stan = message.get("11")
    return (
        TraceEvent(
            at=at,
            tid=tid,
            hop=hop,
            event=event,
            mti=message.get("mti") if isinstance(message.get("mti"), str) else None,
            stan=int(stan) if isinstance(stan, str) and stan.isdigit() else None,
            response_code=message.get("39") if isinstance(message.get("39"), str) else None,
            notes=notes,
            route=route,
            reason=reason,
            message=message,
            encoding=encoding,
            wire_bytes=len(payload),
        )
        .model_dump_json()
        .encode()
    )


_FIELD_VALUES = (str, int, float, bool, type(None))
"""What a field's value may be (a tuple: isinstance against a union costs several times more)."""


def _flat(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as a message's fields can be: a value, or a list of text lines (DE124);
    anything nested deeper (a hostile payload) is named, not kept, so an event stays small
    and shallow whatever a terminal sent."""
    return {
        key: value
        if isinstance(value, _FIELD_VALUES)
        or (isinstance(value, list) and all(isinstance(line, str) for line in value))
        else "<not a field value>"
        for key, value in message.items()
    }
