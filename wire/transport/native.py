"""tpesim's own MQTT client on asyncio streams, the default (wire.transport): the same
interface as the aiomqtt adapter (``wire.transport.mqtt.MqttTransport``).

One connection, no automatic reconnection (the switch and terminals decide that), QoS 0 and 1.
It connects with MQTT 5 and falls back to 3.1.1 when the broker refuses it, as the aiomqtt
adapter does; with MQTT 5 it sets Response Topic, Correlation Data and Content Type on publishes
and a session expiry for persistent sessions. ``TPESIM_MQTT_CLIENT=aiomqtt`` selects the
adapter instead, for a whole process.

Conformance: a publish the broker refuses (PUBACK 0x80 and up) raises TransportError naming the
reason; the CONNACK's Receive Maximum bounds the QoS 1 publishes in flight, its Maximum Packet
Size refuses a larger publish before it is sent, its Server Keep Alive replaces ours; keep
alive 0 is off, else a broker silent for 1.5 keep alives, or one that sends DISCONNECT, ends
the connection (TransportError from ``messages()``), as a dropped socket does.

Cost per message: the packets of one turn of the event loop leave in one write (outbox.py); a
QoS 1 publish awaits one future, with no timer of its own (acks.py) and no drain below the
high-water mark.
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

from wire.transport import packets
from wire.transport.acks import AckTable, room_in
from wire.transport.base import BrokerUrl, Inbound, TransportError, WillMessage
from wire.transport.broker_packets import ConnAck, parse_connack, parse_disconnect, refusal
from wire.transport.outbox import Outbox
from wire.transport.packets import PacketKind, ProtocolError

__all__ = ["NativeMqttTransport"]

log = logging.getLogger(__name__)

_TIMEOUT_S = 10.0
"""How long connecting, and each acknowledgement, may take by default (seconds)."""
_SILENCE = 1.5
"""Keep alives without a packet from the broker after which the connection is lost (§3.1.2.10)."""
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
        timeout_s: float = _TIMEOUT_S,
    ) -> None:
        """``keepalive_s`` 0 turns keep alive off (no PINGREQ, no silence detection);
        ``timeout_s`` bounds connecting and each acknowledgement (seconds)."""
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
        self._acks = AckTable(timeout_s)
        self._outbox: Outbox | None = None
        self._ids = itertools.cycle(range(1, _PACKET_IDS + 1))
        self._lost: str | None = None
        self._timeout = timeout_s
        self._heard = 0.0  # when the broker last sent something (event loop time, seconds)
        self._window: asyncio.Semaphore | None = None
        """QoS 1 publishes that may await their PUBACK: the broker's Receive Maximum."""
        self.limits = ConnAck(False, 0)
        """What the broker's CONNACK asked: Receive Maximum, Maximum Packet Size, …"""
        self.assigned_client_id: str | None = None
        """The client id the broker gave this connection (MQTT 5), if it gave one."""
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
            ack = await self._connect(version, self._will)
        except (OSError, TimeoutError, ProtocolError, asyncio.IncompleteReadError) as exc:
            await self._close_socket()
            raise TransportError(
                f"cannot connect to {self.url} as {self.client_id}: {exc}"
            ) from None
        if ack.code != 0:
            await self._close_socket()
            raise TransportError(
                f"{self.url} refused {self.client_id}: {refusal(ack.code, reason=ack.reason)}"
            )
        self._version = version
        self._heed(ack)
        self._tasks = [
            asyncio.create_task(self._read(), name=f"mqtt-read-{self.client_id}"),
            asyncio.create_task(self._acks.expire(), name=f"mqtt-acks-{self.client_id}"),
        ]
        if self._keepalive:
            self._tasks.append(asyncio.create_task(
                self._keep_alive(self._keepalive), name=f"mqtt-ping-{self.client_id}"
            ))  # fmt: skip
        return self

    def _heed(self, ack: ConnAck) -> None:
        """Take on what the broker's CONNACK asks of this connection."""
        self.limits = ack
        if ack.server_keepalive_s is not None:
            self._keepalive = ack.server_keepalive_s
        if ack.receive_maximum < 65_535:
            self._window = asyncio.Semaphore(ack.receive_maximum)
        self.assigned_client_id = ack.assigned_client_id
        self._heard = asyncio.get_running_loop().time()

    async def _broker_protocol(self) -> int:
        """5 if the broker accepts MQTT 5, else 4; probed once per broker URL. The probe
        carries no Will: some 3.1.1-only brokers (amqtt) misread an MQTT 5 CONNECT that has
        one and hang instead of refusing it."""
        known = _protocol_of.get(self.url.endpoint)
        if known is None:
            ack = await self._connect(5, None, probe=True)
            await self._close_socket()
            known = 4 if ack.code in _REFUSED_VERSION else 5
            _protocol_of[self.url.endpoint] = known
        return known

    async def _connect(
        self, version: int, will: WillMessage | None, *, probe: bool = False
    ) -> ConnAck:
        """Open the socket and exchange CONNECT/CONNACK; the CONNACK (socket left open only
        when its code is 0). A ``probe`` uses a client id of its own and a clean session, so it
        never touches this client's session."""
        await self._close_socket()
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(
                    self.url.host, self.url.port, ssl=self.url.ssl_context()
                )
        except TimeoutError:
            raise TimeoutError(f"no TCP connection within {self._timeout:g} s") from None
        sock = writer.get_extra_info("socket")  # asyncio sets TCP_NODELAY too; be explicit
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer, self._reader = writer, reader
        self._outbox = Outbox(writer)
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
            async with asyncio.timeout(self._timeout):
                try:
                    header = await reader.readexactly(2)
                except asyncio.IncompleteReadError:
                    if version == 5:  # some 3.1.1 brokers hang up on an MQTT 5 CONNECT
                        return ConnAck(False, _REFUSED_VERSION[0])
                    raise ProtocolError(
                        "the broker hung up without answering CONNECT (a TLS port? use mqtts://)"
                    ) from None
                while (length := packets.remaining_length(header)) is None:
                    header += await reader.readexactly(1)
                body = await reader.readexactly(length)
        except TimeoutError:
            raise TimeoutError(f"no CONNACK within {self._timeout:g} s") from None
        if header[0] >> 4 != PacketKind.CONNACK:
            raise ProtocolError(f"expected CONNACK, got packet type {header[0] >> 4}")
        ack = parse_connack(body, version)
        if ack.code != 0:
            await self._close_socket()
        return ack

    async def _close_socket(self) -> None:
        writer, self._writer = self._writer, None
        if self._outbox is not None:
            self._outbox.closed = True
            self._outbox = None
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
                self._send(packets.disconnect(self._version)).flush()
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

    def _send(self, data: bytes) -> Outbox:
        """Queue ``data`` for the socket (wire.transport.outbox); the outbox."""
        outbox = self._outbox
        if outbox is None or self._lost is not None:
            raise TransportError(f"{self.client_id} is not connected to {self.url}"
                                 + (f" ({self._lost})" if self._lost else ""))  # fmt: skip
        outbox.put(data)
        return outbox

    def _next_id(self) -> int:
        """A packet id no PUBACK or SUBACK is awaited for (at most one turn of the 65 535)."""
        for packet_id in itertools.islice(self._ids, _PACKET_IDS):
            if packet_id not in self._acks:
                return packet_id
        raise TransportError(f"{self.client_id}: all {_PACKET_IDS} packet ids await an ack")

    async def _acknowledged(
        self, packet_id: int, data: bytes, what: str, *, window: asyncio.Semaphore | None = None
    ) -> int:
        """Send ``data`` (once ``window`` has room) and wait for the PUBACK or SUBACK of
        ``packet_id``; its code. Each wait is bounded by the timeout: the room by a timer of
        its own (only when there is none at once), the acknowledgement by the ack table."""
        if window is not None and not await room_in(window, self._timeout):
            raise TransportError(
                f"{self.client_id}: {what} found no room within {self._timeout:g} s: the "
                f"broker's Receive Maximum ({self.limits.receive_maximum}) publishes all await "
                "their PUBACK"
            )
        try:
            future = self._acks.expect(packet_id)
            try:
                await self._send(data).drained()
                return await future
            except TimeoutError:
                ack = "SUBACK" if data[0] >> 4 == PacketKind.SUBSCRIBE else "PUBACK"
                why = f"no {ack} for {what} within {self._timeout:g} s"
                raise TransportError(f"{self.client_id}: {why}") from None
            except (OSError, ConnectionError) as exc:
                raise TransportError(f"{self.client_id}: {what} failed: {exc}") from None
            finally:
                self._acks.forget(packet_id, future)
        finally:
            if window is not None:
                window.release()

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
        """Publish; TransportError if the broker refuses it (PUBACK code 0x80 and up), if it
        exceeds the broker's Maximum Packet Size (not sent), or if the connection fails."""
        packet_id = self._next_id() if qos else 0
        data = packets.publish(topic, payload, version=self._version, qos=qos, retain=retain,
                               packet_id=packet_id, response_topic=response_topic,
                               correlation=correlation, content_type=content_type)  # fmt: skip
        if len(data) > self.limits.maximum_packet_size:
            raise TransportError(
                f"{self.client_id}: publish to {topic} not sent: {len(data)} bytes, more than "
                f"the broker's Maximum Packet Size ({self.limits.maximum_packet_size} bytes)"
            )
        if not qos:
            try:
                await self._send(data).drained()
            except (OSError, ConnectionError) as exc:
                raise TransportError(f"{self.client_id}: publish to {topic}: {exc}") from None
            return
        what = f"publish to {topic}"
        code = await self._acknowledged(packet_id, data, what, window=self._window)
        if code >= 0x80:
            raise TransportError(f"{self.client_id}: {what} refused: {refusal(code, 'PUBACK')}")

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        packet_id = self._next_id()
        data = packets.subscribe(topic_filter, version=self._version, qos=qos, packet_id=packet_id)
        code = await self._acknowledged(packet_id, data, f"subscribe {topic_filter}")
        if code >= 0x80:
            refused = refusal(code, "SUBACK")
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
        loop = asyncio.get_running_loop()
        try:
            while self._lost is None:
                data = await self._reader.read(65536)
                if not data:
                    break
                self._heard = loop.time()
                for kind, flags, body in reader.feed(data):
                    self._handle(kind, flags, body)
        except (OSError, ConnectionError, ProtocolError) as exc:
            reason = str(exc) or type(exc).__name__
        self._lose(reason)

    def _handle(self, kind: int, flags: int, body: bytes) -> None:
        if kind == PacketKind.PUBLISH:
            message = packets.parse_publish(flags, body, self._version)
            if message.qos and self._writer is not None and self._lost is None:
                self._send(packets.puback(message.packet_id))
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
            self._acks.resolve(packet_id, code)
        elif kind == PacketKind.DISCONNECT:
            why = f"the broker disconnected: {parse_disconnect(body, self._version)}"
            log.warning("%s: %s", self.client_id, why)
            self._lose(why)

    async def _keep_alive(self, keepalive_s: int) -> None:
        """PINGREQ every half keep alive; the connection is lost once the broker has sent
        nothing for 1.5 keep alives (a frozen broker, a dead route)."""
        loop = asyncio.get_running_loop()
        silence_s = _SILENCE * keepalive_s
        ping_at = loop.time() + keepalive_s / 2
        while True:
            now = loop.time()
            if now - self._heard >= silence_s:
                self._lose(f"no packet from the broker for {silence_s:g} s")
                return
            if now >= ping_at:
                with contextlib.suppress(TransportError):
                    self._send(packets.pingreq())
                ping_at = now + keepalive_s / 2
            await asyncio.sleep(min(ping_at, self._heard + silence_s) - now)

    def _lose(self, reason: str) -> None:
        """The connection is over (once): cut the socket, fail what waits, end ``messages()``."""
        if self._lost is not None:
            return
        self._lost = reason
        if self._outbox is not None:
            self._outbox.closed = True
        if self._writer is not None:
            self._writer.transport.abort()
        self._fail_waiters(reason)
        self._inbound.put_nowait(_LOST)

    def _fail_waiters(self, reason: str) -> None:
        self._acks.fail_all(reason)
