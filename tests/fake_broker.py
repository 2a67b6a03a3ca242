"""A fake MQTT 5 broker for client conformance tests: an asyncio server that speaks just enough
MQTT to answer the native client the way a test wants (a long CONNACK, PUBACKs refused or held,
silence, a DISCONNECT), and records what the client sent.

Answers are built here by hand, not with ``wire.transport.packets``, so the client's codec is
not checked against itself.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from wire.transport.base import BrokerUrl
from wire.transport.packets import PacketKind, PacketReader

__all__ = ["FakeBroker", "byte2", "byte4", "fake_broker", "packet", "text"]


def varint(value: int) -> bytes:
    """MQTT's variable byte integer, written apart from wire.transport.packets on purpose:
    a fake peer that borrowed the encoder under test would share its bugs."""
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def packet(kind: PacketKind, body: bytes, flags: int = 0) -> bytes:
    """A control packet: fixed header (remaining length as a variable byte integer), body."""
    return bytes(((kind << 4) | flags,)) + varint(len(body)) + body


def text(key: int, value: str) -> bytes:
    """A string property."""
    raw = value.encode()
    return bytes((key,)) + struct.pack("!H", len(raw)) + raw


def byte2(key: int, value: int) -> bytes:
    return bytes((key,)) + struct.pack("!H", value)


def byte4(key: int, value: int) -> bytes:
    return bytes((key,)) + struct.pack("!I", value)


@dataclass
class FakeBroker:
    """What the fake broker answers (set before the client connects) and what it received."""

    connack_properties: bytes = b""
    connack_code: int = 0
    answer_connect: bool = True
    puback_code: int = 0
    hold_pubacks: bool = False
    """Keep PUBACKs until :meth:`release` (a broker slow to acknowledge)."""
    answer_pings: bool = True
    port: int = 0
    received: list[tuple[PacketKind, bytes]] = field(default_factory=list)
    """Every packet the client sent after CONNECT: (kind, body)."""
    connects: list[bytes] = field(default_factory=list)
    """CONNECT bodies, in order."""
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _held: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl("127.0.0.1", self.port)

    def kinds(self) -> list[PacketKind]:
        return [kind for kind, _ in self.received]

    async def wait_for(self, kind: PacketKind, count: int = 1, within_s: float = 5.0) -> None:
        """Wait until ``count`` packets of ``kind`` have arrived."""
        async with asyncio.timeout(within_s), self.arrived:
            await self.arrived.wait_for(lambda: self.kinds().count(kind) >= count)

    def release(self) -> None:
        """Send the PUBACKs held so far."""
        held, self._held = self._held, []
        for data in held:
            self._writers[-1].write(data)

    def disconnect(self, code: int, reason: str) -> None:
        """Send DISCONNECT with ``code`` and a Reason String to the latest client."""
        properties = text(0x1F, reason)
        body = bytes((code,)) + varint(len(properties)) + properties
        self._writers[-1].write(packet(PacketKind.DISCONNECT, body))

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        cutter = PacketReader()
        try:
            while data := await reader.read(65536):
                for kind, flags, body in cutter.feed(data):
                    await self._answer(PacketKind(kind), flags, body, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(
        self, kind: PacketKind, flags: int, body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        if kind == PacketKind.CONNECT:
            self.connects.append(body)
            if self.answer_connect:
                properties = varint(len(self.connack_properties)) + self.connack_properties
                writer.write(packet(PacketKind.CONNACK, bytes((0, self.connack_code)) + properties))
            return
        async with self.arrived:
            self.received.append((kind, body))
            self.arrived.notify_all()
        if kind == PacketKind.PUBLISH and flags & 0x06:  # QoS 1
            topic_end = 2 + (body[0] << 8 | body[1])
            ack = packet(PacketKind.PUBACK, body[topic_end : topic_end + 2]
                         + bytes((self.puback_code, 0)))  # fmt: skip
            if self.hold_pubacks:
                self._held.append(ack)
            else:
                writer.write(ack)
        elif kind == PacketKind.SUBSCRIBE:
            writer.write(packet(PacketKind.SUBACK, body[:2] + b"\x00\x01"))
        elif kind == PacketKind.PINGREQ and self.answer_pings:
            writer.write(packet(PacketKind.PINGRESP, b""))


@asynccontextmanager
async def fake_broker(broker: FakeBroker | None = None) -> AsyncIterator[FakeBroker]:
    """``broker`` (a default one: None) listening on a free port of 127.0.0.1."""
    broker = broker or FakeBroker()
    server = await asyncio.start_server(broker.serve, "127.0.0.1", 0)
    broker.port = server.sockets[0].getsockname()[1]
    try:
        yield broker
    finally:
        for writer in broker._writers:
            writer.transport.abort()
        server.close()
        await server.wait_closed()
