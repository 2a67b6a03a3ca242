"""MQTT 3.1.1 and 5 control packets, as bytes: the part of the protocol tpesim's native client
speaks (CONNECT with a Will, PUBLISH at QoS 0/1 with the three MQTT 5 properties tpesim uses,
PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT), MQTT 5 property lists, and a reader that cuts a byte
stream into packets. What the broker answers (CONNACK, DISCONNECT, reason codes) is read in
``wire.transport.broker_packets``.

Pure: no sockets, no clock. Versions are the protocol levels, 4 (3.1.1) and 5.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "PacketKind",
    "PacketReader",
    "Property",
    "ProtocolError",
    "Publish",
    "connect",
    "disconnect",
    "parse_publish",
    "pingreq",
    "puback",
    "publish",
    "read_properties",
    "remaining_length",
    "subscribe",
]

MAX_PACKET = 268_435_455
"""The largest remaining length MQTT can express (bytes)."""


class ProtocolError(ValueError):
    """The broker sent bytes that are not the MQTT this client speaks."""


class PacketKind(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    SUBSCRIBE = 8
    SUBACK = 9
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class Property(IntEnum):
    """MQTT 5 property identifiers tpesim writes or reads."""

    PAYLOAD_FORMAT = 0x01
    MESSAGE_EXPIRY = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SESSION_EXPIRY = 0x11
    ASSIGNED_CLIENT_ID = 0x12
    SERVER_KEEP_ALIVE = 0x13
    REASON_STRING = 0x1F
    SERVER_REFERENCE = 0x1C
    RECEIVE_MAXIMUM = 0x21
    MAXIMUM_PACKET_SIZE = 0x27


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def _binary(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def _packet(kind: PacketKind, flags: int, body: bytes) -> bytes:
    return bytes(((kind << 4) | flags,)) + _varint(len(body)) + body


def _properties(*pairs: tuple[Property, bytes]) -> bytes:
    body = b"".join(bytes((key,)) + value for key, value in pairs)
    return _varint(len(body)) + body


def connect(
    client_id: str,
    *,
    version: int,
    keepalive_s: int,
    clean: bool,
    session_expiry_s: int = 0,
    will: tuple[str, bytes, int, bool] | None = None,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT: ``clean`` is clean session (4) or clean start (5); ``will`` is (topic, payload,
    QoS, retain); ``session_expiry_s`` (5 only) keeps the session that long after a drop;
    ``username`` and ``password`` log in (a password needs a username on 3.1.1)."""
    flags = 0x02 if clean else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    if will is not None:
        _, _, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
    header = _text("MQTT") + bytes((version, flags)) + struct.pack("!H", keepalive_s)
    if version == 5:
        expiry = ((Property.SESSION_EXPIRY, struct.pack("!I", session_expiry_s)),)
        header += _properties(*(expiry if session_expiry_s else ()))
    payload = _text(client_id)
    if will is not None:
        topic, message, _, _ = will
        payload += (_properties() if version == 5 else b"") + _text(topic) + _binary(message)
    if username is not None:
        payload += _text(username)
    if password is not None:
        payload += _binary(password.encode())
    return _packet(PacketKind.CONNECT, 0, header + payload)


def publish(
    topic: str,
    payload: bytes,
    *,
    version: int,
    qos: int,
    retain: bool,
    packet_id: int = 0,
    response_topic: str | None = None,
    correlation: bytes | None = None,
    content_type: str | None = None,
) -> bytes:
    """PUBLISH at QoS 0 or 1 (``packet_id`` for QoS 1); the MQTT 5 properties are left out
    on 3.1.1."""
    body = _text(topic) + (struct.pack("!H", packet_id) if qos else b"")
    if version == 5:
        pairs = []
        if content_type:
            pairs.append((Property.CONTENT_TYPE, _text(content_type)))
        if response_topic:
            pairs.append((Property.RESPONSE_TOPIC, _text(response_topic)))
        if correlation:
            pairs.append((Property.CORRELATION_DATA, _binary(correlation)))
        body += _properties(*pairs)
    return _packet(PacketKind.PUBLISH, (qos << 1) | int(retain), body + payload)


def puback(packet_id: int) -> bytes:
    """PUBACK (success; the MQTT 5 reason code 0 may be left out)."""
    return _packet(PacketKind.PUBACK, 0, struct.pack("!H", packet_id))


def subscribe(topic_filter: str, *, version: int, qos: int, packet_id: int) -> bytes:
    body = struct.pack("!H", packet_id) + (_properties() if version == 5 else b"")
    return _packet(PacketKind.SUBSCRIBE, 0x02, body + _text(topic_filter) + bytes((qos,)))


def pingreq() -> bytes:
    return _packet(PacketKind.PINGREQ, 0, b"")


def disconnect(version: int) -> bytes:
    return _packet(PacketKind.DISCONNECT, 0, b"\x00\x00" if version == 5 else b"")


def remaining_length(header: bytes) -> int | None:
    """The remaining length a fixed header (first byte, then up to four length bytes) gives;
    None while its variable byte integer is incomplete (bytes)."""
    try:
        return _read_varint(header, 1)[0]
    except ProtocolError:
        if len(header) >= 5:
            raise ProtocolError("malformed remaining length") from None
        return None


@dataclass(frozen=True, slots=True)
class Publish:
    """An incoming PUBLISH."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    packet_id: int = 0
    response_topic: str | None = None
    correlation: bytes | None = None
    content_type: str | None = None


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 21:
            raise ProtocolError("malformed variable byte integer")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _read_text(data: bytes, at: int) -> tuple[bytes, int]:
    if at + 2 > len(data):
        raise ProtocolError("string length beyond the packet")
    (length,) = struct.unpack_from("!H", data, at)
    end = at + 2 + length
    if end > len(data):
        raise ProtocolError("string beyond the packet")
    return data[at + 2 : end], end


_FIXED_WIDTH = {0x01: 1, 0x02: 4, 0x11: 4, 0x13: 2, 0x17: 1, 0x18: 4, 0x19: 1, 0x21: 2,
                0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}  # fmt: skip
"""MQTT 5 integer properties by identifier: their width (bytes)."""
_STRINGS = frozenset({0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F})
"""MQTT 5 properties that are a UTF-8 string or binary data (two length bytes, then the bytes)."""
_PAIR = 0x26  # user property: two strings
_VARINT = 0x0B  # subscription identifier


def read_properties(body: bytes, at: int, packet: str) -> dict[int, int | bytes]:
    """The MQTT 5 property list at ``at``: integers and strings by identifier (user
    properties skipped); ProtocolError for one that overruns it or is unknown."""
    length, at = _read_varint(body, at)
    end = at + length
    if end > len(body):
        raise ProtocolError(f"{packet} properties beyond the packet")
    found: dict[int, int | bytes] = {}
    while at < end:
        key = body[at]
        at += 1
        width = _FIXED_WIDTH.get(key)
        if width is not None:
            if at + width > end:
                raise ProtocolError(f"{packet} property 0x{key:02x} beyond its list")
            found[key] = int.from_bytes(body[at : at + width], "big")
            at += width
        elif key in _STRINGS:
            found[key], at = _read_text(body, at)
        elif key == _PAIR:
            _, at = _read_text(body, at)
            _, at = _read_text(body, at)
        elif key == _VARINT:
            found[key], at = _read_varint(body, at)
        else:
            raise ProtocolError(f"unknown {packet} property 0x{key:02x}")
    if at != end:
        raise ProtocolError(f"{packet} properties overrun their length")
    return found


def parse_publish(flags: int, body: bytes, version: int) -> Publish:
    """The PUBLISH whose fixed-header flags are ``flags`` and whose rest is ``body``."""
    qos = (flags >> 1) & 0x03
    if qos > 1:
        raise ProtocolError("QoS 2 was not asked for")
    topic, at = _read_text(body, 0)
    packet_id = 0
    if qos:
        if at + 2 > len(body):
            raise ProtocolError("PUBLISH without its packet id")
        (packet_id,) = struct.unpack_from("!H", body, at)
        at += 2
    found: dict[int, bytes] = {}
    if version == 5:
        length, at = _read_varint(body, at)
        end = at + length
        while at < end:
            key = body[at]
            at += 1
            if key in _FIXED_WIDTH:
                at += _FIXED_WIDTH[key]
            elif key == _VARINT:
                _, at = _read_varint(body, at)
            elif key == _PAIR:
                _, at = _read_text(body, at)
                _, at = _read_text(body, at)
            elif key in (Property.CONTENT_TYPE, Property.RESPONSE_TOPIC,
                         Property.CORRELATION_DATA):  # fmt: skip
                found[key], at = _read_text(body, at)
            else:
                raise ProtocolError(f"unknown PUBLISH property 0x{key:02x}")
        if at != end:
            raise ProtocolError("PUBLISH properties overrun their length")
    content = found.get(Property.CONTENT_TYPE)
    response = found.get(Property.RESPONSE_TOPIC)
    return Publish(
        topic=topic.decode("utf-8", "replace"),
        payload=body[at:],
        qos=qos,
        retain=bool(flags & 1),
        packet_id=packet_id,
        response_topic=response.decode("utf-8", "replace") if response is not None else None,
        correlation=found.get(Property.CORRELATION_DATA),
        content_type=content.decode("utf-8", "replace") if content is not None else None,
    )


class PacketReader:
    """Cuts received bytes into packets: feed what arrived, then take (kind, flags, body)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Every whole packet now buffered, in order; a partial one waits for more bytes."""
        self._buffer += data
        packets = []
        buffer = self._buffer
        at = 0
        while len(buffer) - at >= 2:
            length, shift, cursor = 0, 0, at + 1
            while True:
                if cursor >= len(buffer):
                    length = -1
                    break
                byte = buffer[cursor]
                length |= (byte & 0x7F) << shift
                cursor += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise ProtocolError("malformed remaining length")
            if length < 0 or cursor + length > len(buffer):
                break
            first = buffer[at]
            packets.append((first >> 4, first & 0x0F, bytes(buffer[cursor : cursor + length])))
            at = cursor + length
        del buffer[:at]
        return packets
