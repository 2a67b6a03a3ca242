"""What an MQTT broker answers besides messages: CONNACK and DISCONNECT with the MQTT 5
properties that bind the client (Receive Maximum, Maximum Packet Size, Server Keep Alive,
Assigned Client Identifier, Reason String), and what reason codes mean.

Pure: no sockets, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from wire.transport.packets import MAX_PACKET, Property, ProtocolError, read_properties

__all__ = ["ConnAck", "Disconnect", "parse_connack", "parse_disconnect", "refusal"]

_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x8D: "keep alive timeout",
    0x8E: "session taken over",
    0x90: "topic name invalid",
    0x93: "receive maximum exceeded",
    0x95: "packet too large",
    0x96: "message rate too high",
    0x97: "quota exceeded",
    0x98: "administrative action",
    0x99: "payload format invalid",
    0x9A: "retain not supported",
    0x9B: "QoS not supported",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9F: "connection rate exceeded",
}


def refusal(code: int, packet: str = "CONNACK", reason: str | None = None) -> str:
    """What a refusing CONNACK (or PUBACK, SUBACK, DISCONNECT) code means, for an error
    message; ``reason`` is the MQTT 5 Reason String the broker gave, if any."""
    said = f": {reason}" if reason else ""
    return f"{_REFUSALS.get(code, 'refused')} ({packet} code {code:#x}{said})"


@dataclass(frozen=True, slots=True)
class ConnAck:
    """A CONNACK, with what its MQTT 5 properties ask of the client (absent: the defaults)."""

    session_present: bool
    code: int
    """0 accepted; 3.1.1 return codes 1-5, MQTT 5 reason codes 0x80 and up."""
    receive_maximum: int = 65_535
    """QoS 1 publishes the broker takes unacknowledged at once."""
    maximum_packet_size: int = MAX_PACKET + 5
    """The largest packet the broker accepts, header included (bytes)."""
    server_keepalive_s: int | None = None
    """The keep alive the broker imposes instead of the client's (seconds; 0: none)."""
    assigned_client_id: str | None = None
    reason: str | None = None


def parse_connack(body: bytes, version: int = 5) -> ConnAck:
    """The CONNACK whose remaining bytes are ``body`` (properties read on MQTT 5)."""
    if len(body) < 2:
        raise ProtocolError("CONNACK shorter than 2 bytes")
    session, code = bool(body[0] & 1), body[1]
    if version != 5 or len(body) == 2:
        return ConnAck(session, code)
    found = read_properties(body, 2, "CONNACK")
    receive_maximum = found.get(Property.RECEIVE_MAXIMUM, 65_535)
    packet_size = found.get(Property.MAXIMUM_PACKET_SIZE, MAX_PACKET + 5)
    keepalive = found.get(Property.SERVER_KEEP_ALIVE)
    assigned = found.get(Property.ASSIGNED_CLIENT_ID)
    reason = found.get(Property.REASON_STRING)
    if receive_maximum == 0 or packet_size == 0:
        raise ProtocolError("CONNACK with a Receive Maximum or Maximum Packet Size of 0")
    assert isinstance(receive_maximum, int)
    assert isinstance(packet_size, int)
    return ConnAck(
        session, code, receive_maximum, packet_size,
        keepalive if isinstance(keepalive, int) else None,
        assigned.decode("utf-8", "replace") if isinstance(assigned, bytes) else None,
        reason.decode("utf-8", "replace") if isinstance(reason, bytes) else None,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A DISCONNECT from the broker (MQTT 5): why it ends the connection."""

    code: int
    reason: str | None = None
    server_reference: str | None = None

    def __str__(self) -> str:
        moved = f", try {self.server_reference}" if self.server_reference else ""
        return refusal(self.code, "DISCONNECT", self.reason) + moved


def parse_disconnect(body: bytes, version: int = 5) -> Disconnect:
    """The DISCONNECT whose remaining bytes are ``body`` (none: code 0, normal)."""
    if version != 5 or not body:
        return Disconnect(0)
    if len(body) == 1:
        return Disconnect(body[0])
    found = read_properties(body, 1, "DISCONNECT")
    reason, moved = found.get(Property.REASON_STRING), found.get(Property.SERVER_REFERENCE)
    return Disconnect(
        body[0],
        reason.decode("utf-8", "replace") if isinstance(reason, bytes) else None,
        moved.decode("utf-8", "replace") if isinstance(moved, bytes) else None,
    )
