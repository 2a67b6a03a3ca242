"""tpesim's own MQTT client on asyncio streams, the default (switch.transport): the same
interface as the aiomqtt adapter (``switch.transport.mqtt.MqttTransport``).

One connection, no automatic reconnection (the switch and terminals decide that), QoS 0 and 1.
It connects with MQTT 5 and falls back to 3.1.1 when the broker refuses it, as the aiomqtt
adapter does; with MQTT 5 it sets Response Topic, Correlation Data and Content Type on publishes
and a session expiry for persistent sessions. ``TPESIM_MQTT_CLIENT=aiomqtt`` selects the
adapter instead, for a whole process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from switch.transport import packets
from switch.transport.base import BrokerUrl, Inbound, TransportError, WillMessage
from switch.transport.packets import PacketKind, ProtocolError

__all__ = ["NativeMqttTransport"]

log = logging.getLogger(__name__)

_TIMEOUT_S = 10.0
_PACKET_IDS = 65_535
"""MQTT packet ids run 1 .. 65 535."""
_SESSION_EXPIRY_S = 3600
_REFUSED_VERSION = (1, 0x84)  # 3.1.1 CONNACK 1 / MQTT 5 "unsupported protocol version"
_protocol_of: dict[tuple[str, int, bool], int] = {}
"""MQTT version by broker endpoint (:attr:`BrokerUrl.endpoint`)."""
_LOST = object()


class NativeMqttTransport:
    """One MQTT connection: ``async with NativeMqttTransport(url, client_id=...) as t``."""

    def __init__(
        self,
        url: BrokerUrl,
        *,
        client_id: str,
        will: WillMessage | None = None,
        persistent: bool = False,
        keepalive_s: int = 30,
        protocol: int | None = None,
        max_inflight: int = 100,
    ) -> None:
        self.url = url
        self.client_id = client_id
        self._will = will
        self._persistent = persistent
        self._keepalive = keepalive_s
        self._wanted_protocol = protocol
        self._version = 0
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inbound: asyncio.Queue[Inbound | object] = asyncio.Queue()
        self._acks: dict[int, asyncio.Future[int]] = {}
        self._ids = itertools.cycle(range(1, _PACKET_IDS + 1))
        self._lost: str | None = None
        del max_inflight  # the broker's receive maximum bounds what is in flight

    @property
    def protocol_version(self) -> int:
        return self._version

    def __repr__(self) -> str:
        state = f"v{self._version}" if self._writer else "disconnected"
        return f"<NativeMqttTransport {self.client_id} {self.url} {state}>"

    async def __aenter__(self) -> Self:
        try:
            version = self._wanted_protocol or await self._broker_protocol()
            code = await self._connect(version, self._will)
        except (OSError, TimeoutError, ProtocolError, asyncio.IncompleteReadError) as exc:
            await self._close_socket()
            raise TransportError(
                f"cannot connect to {self.url} as {self.client_id}: {exc}"
            ) from None
        if code != 0:
            await self._close_socket()
            raise TransportError(f"{self.url} refused {self.client_id}: {packets.refusal(code)}")
        self._version = version
        self._tasks = [
            asyncio.create_task(self._read(), name=f"mqtt-read-{self.client_id}"),
            asyncio.create_task(self._ping(), name=f"mqtt-ping-{self.client_id}"),
        ]
        return self

    async def _broker_protocol(self) -> int:
        """5 if the broker accepts MQTT 5, else 4; probed once per broker URL. The probe
        carries no Will: some 3.1.1-only brokers (amqtt) misread an MQTT 5 CONNECT that has
        one and hang instead of refusing it."""
        known = _protocol_of.get(self.url.endpoint)
        if known is None:
            code = await self._connect(5, None, probe=True)
            await self._close_socket()
            known = 4 if code in _REFUSED_VERSION else 5
            _protocol_of[self.url.endpoint] = known
        return known

    async def _connect(self, version: int, will: WillMessage | None, *, probe: bool = False) -> int:
        """Open the socket and exchange CONNECT/CONNACK; the CONNACK code (socket left open
        only when it is 0). A ``probe`` uses a client id of its own and a clean session, so it
        never touches this client's session."""
        await self._close_socket()
        async with asyncio.timeout(_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(
                self.url.host, self.url.port, ssl=self.url.ssl_context()
            )
        sock = writer.get_extra_info("socket")  # asyncio sets TCP_NODELAY too; be explicit
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer, self._reader = writer, reader
        persistent = self._persistent and not probe
        writer.write(packets.connect(
            f"{self.client_id}-probe" if probe else self.client_id, version=version,
            keepalive_s=self._keepalive, clean=not persistent,
            session_expiry_s=_SESSION_EXPIRY_S if persistent else 0,
            will=(will.topic, will.payload, will.qos, will.retain) if will else None,
            username=self.url.username, password=self.url.password,
        ))  # fmt: skip
        await writer.drain()
        try:
            async with asyncio.timeout(_TIMEOUT_S):
                first = await reader.readexactly(2)
        except asyncio.IncompleteReadError:
            if version == 5:
                return _REFUSED_VERSION[0]  # some 3.1.1 brokers hang up on an MQTT 5 CONNECT
            raise ProtocolError(
                "the broker hung up without answering CONNECT (a TLS port? use mqtts://)"
            ) from None
        kind, length = first[0] >> 4, first[1]
        async with asyncio.timeout(_TIMEOUT_S):
            body = await reader.readexactly(length)
        if kind != PacketKind.CONNACK:
            raise ProtocolError(f"expected CONNACK, got packet type {kind}")
        code = packets.parse_connack(body).code
        if code != 0:
            await self._close_socket()
        return code

    async def _close_socket(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None and self._lost is None:
            with contextlib.suppress(OSError, ConnectionError):
                self._writer.write(packets.disconnect(self._version))
                await self._writer.drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_socket()
        self._fail_waiters("disconnected")

    def abort(self) -> None:
        """Cut the connection without a DISCONNECT (the broker publishes the Will)."""
        if self._writer is not None:
            self._writer.transport.abort()

    def _send(self, data: bytes) -> asyncio.StreamWriter:
        if self._writer is None or self._lost is not None:
            raise TransportError(f"{self.client_id} is not connected to {self.url}"
                                 + (f" ({self._lost})" if self._lost else ""))  # fmt: skip
        self._writer.write(data)
        return self._writer

    def _next_id(self) -> int:
        """A packet id no PUBACK or SUBACK is awaited for (at most one turn of the 65 535)."""
        for packet_id in itertools.islice(self._ids, _PACKET_IDS):
            if packet_id not in self._acks:
                return packet_id
        raise TransportError(f"{self.client_id}: all {_PACKET_IDS} packet ids await an ack")

    async def _acknowledged(self, packet_id: int, data: bytes, what: str) -> int:
        """Send ``data`` and wait for the PUBACK or SUBACK of ``packet_id``; its code."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._acks[packet_id] = future
        try:
            writer = self._send(data)
            await writer.drain()
            async with asyncio.timeout(_TIMEOUT_S):
                return await future
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise TransportError(f"{self.client_id}: {what} failed: {exc or 'timeout'}") from None
        finally:
            self._acks.pop(packet_id, None)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        packet_id = self._next_id() if qos else 0
        data = packets.publish(topic, payload, version=self._version, qos=qos, retain=retain,
                               packet_id=packet_id, response_topic=response_topic,
                               correlation=correlation, content_type=content_type)  # fmt: skip
        if not qos:
            try:
                await self._send(data).drain()
            except (OSError, ConnectionError) as exc:
                raise TransportError(f"{self.client_id}: publish to {topic}: {exc}") from None
            return
        await self._acknowledged(packet_id, data, f"publish to {topic}")

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        packet_id = self._next_id()
        data = packets.subscribe(topic_filter, version=self._version, qos=qos, packet_id=packet_id)
        code = await self._acknowledged(packet_id, data, f"subscribe {topic_filter}")
        if code >= 0x80:
            refused = packets.refusal(code, "SUBACK")
            raise TransportError(f"{self.client_id}: subscribe {topic_filter}: {refused}")

    async def messages(self) -> AsyncIterator[Inbound]:
        """Received messages until the connection ends (then TransportError)."""
        while True:
            item = await self._inbound.get()
            if item is _LOST:
                self._inbound.put_nowait(_LOST)  # every later reader learns it too
                raise TransportError(f"{self.client_id}: connection lost: {self._lost}")
            assert isinstance(item, Inbound)
            yield item

    async def _read(self) -> None:
        reader = packets.PacketReader()
        reason = "the broker closed the connection"
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for kind, flags, body in reader.feed(data):
                    self._handle(kind, flags, body)
        except (OSError, ConnectionError, ProtocolError) as exc:
            reason = str(exc) or type(exc).__name__
        self._lost = reason
        self._fail_waiters(reason)
        self._inbound.put_nowait(_LOST)

    def _handle(self, kind: int, flags: int, body: bytes) -> None:
        if kind == PacketKind.PUBLISH:
            message = packets.parse_publish(flags, body, self._version)
            if message.qos and self._writer is not None:
                self._writer.write(packets.puback(message.packet_id))
            self._inbound.put_nowait(Inbound(
                topic=message.topic, payload=message.payload, retain=message.retain,
                response_topic=message.response_topic, correlation=message.correlation,
                content_type=message.content_type,
            ))  # fmt: skip
        elif kind in (PacketKind.PUBACK, PacketKind.SUBACK) and len(body) >= 2:
            packet_id = int.from_bytes(body[:2], "big")
            code = 0
            if kind == PacketKind.SUBACK:
                code = body[-1]
            elif len(body) > 2:
                code = body[2]
                if code >= 0x80:
                    log.warning("%s: the broker refused a publish: %s", self.client_id,
                                packets.refusal(code, "PUBACK"))  # fmt: skip
            future = self._acks.get(packet_id)
            if future is not None and not future.done():
                future.set_result(code)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive / 2)
            with contextlib.suppress(TransportError):
                self._send(packets.pingreq())

    def _fail_waiters(self, reason: str) -> None:
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError(reason))
