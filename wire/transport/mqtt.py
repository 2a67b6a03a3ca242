"""The aiomqtt adapter: the only module in tpesim that imports aiomqtt or paho.

Connects with MQTT 5 and falls back to 3.1.1 when the broker refuses it (amqtt speaks only
3.1.1). With MQTT 5 it sets Response Topic, Correlation Data and Content Type on publishes and
a session expiry for persistent sessions.

aiomqtt awaits acknowledgements with ``asyncio.wait_for``, which on Python 3.11 can drop a
cancellation that arrives with the acknowledgement; every awaited call here goes through
``wire.tasks.cancellation_kept`` so a cancelled caller stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

import aiomqtt
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wire.tasks import cancellation_kept
from wire.transport.base import BrokerUrl, Inbound, TransportError, WillMessage
from wire.transport.broker_packets import refusal

__all__ = ["MqttTransport"]

log = logging.getLogger(__name__)

_UNSUPPORTED_PROTOCOL = (1, 132)  # 3.1.1 CONNACK 1 / MQTT 5 reason code 0x84
_SESSION_EXPIRY_S = 3600
_protocol_of: dict[tuple[str, int, bool], int] = {}
"""MQTT version by broker endpoint (:attr:`BrokerUrl.endpoint`)."""


def _connect_error(url: BrokerUrl, who: str, error: aiomqtt.MqttError) -> TransportError:
    """A failed connection in the native client's words: ``URL refused WHO: why`` when the
    broker answered with a refusing CONNACK, else ``cannot connect to URL as WHO: why``."""
    if isinstance(error, aiomqtt.MqttCodeError) and getattr(error, "rc", None) is not None:
        return TransportError(f"{url} refused {who}: {_why(error)}")
    return TransportError(f"cannot connect to {url} as {who}: {_why(error)}")


def _why(error: aiomqtt.MqttError) -> str:
    """An aiomqtt error in the native client's words: a refusing CONNACK named as
    ``wire.transport.packets.refusal`` names it."""
    code = getattr(error, "rc", None)
    if isinstance(error, aiomqtt.MqttCodeError) and code is not None:
        return refusal(int(getattr(code, "value", code)))
    return str(error)


async def _broker_protocol(url: BrokerUrl) -> int:
    """5 if the broker at ``url`` accepts MQTT 5, else 4 (3.1.1); probed once per URL.

    The probe carries no Will: some 3.1.1-only brokers (amqtt) misread an MQTT 5 CONNECT that
    has one and hang instead of refusing it.
    """
    known = _protocol_of.get(url.endpoint)
    if known is not None:
        return known
    probe = aiomqtt.Client(
        url.host,
        url.port,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=10,
        username=url.username,
        password=url.password,
        tls_context=url.ssl_context(),
    )
    try:
        async with probe:
            version = 5
    except aiomqtt.MqttCodeError as exc:
        if getattr(exc.rc, "value", exc.rc) not in _UNSUPPORTED_PROTOCOL:
            raise _connect_error(url, "the protocol probe", exc) from None
        version = 4
    except aiomqtt.MqttError as exc:
        raise _connect_error(url, "the protocol probe", exc) from None
    log.debug("%s speaks MQTT %s", url, "5" if version == 5 else "3.1.1")
    _protocol_of[url.endpoint] = version
    return version


class MqttTransport:
    """One MQTT connection. Use as ``async with MqttTransport(url, client_id=...) as t``.

    ``persistent=True`` asks the broker to keep the session (subscriptions and queued QoS 1
    messages) while the client is away, so a restarted switch receives what arrived meanwhile.
    """

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
        self._max_inflight = max_inflight
        self._client: aiomqtt.Client | None = None
        self._version = 0

    @property
    def protocol_version(self) -> int:
        return self._version

    def __repr__(self) -> str:
        state = f"v{self._version}" if self._client else "disconnected"
        return f"<MqttTransport {self.client_id} {self.url} {state}>"

    def _make_client(self, version: aiomqtt.ProtocolVersion) -> aiomqtt.Client:
        will = None
        if self._will is not None:
            will = aiomqtt.Will(
                self._will.topic, self._will.payload, qos=self._will.qos, retain=self._will.retain
            )
        v5 = version == aiomqtt.ProtocolVersion.V5
        properties = None
        if v5 and self._persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = _SESSION_EXPIRY_S
        return aiomqtt.Client(
            self.url.host,
            self.url.port,
            identifier=self.client_id,
            protocol=version,
            will=will,
            keepalive=self._keepalive,
            timeout=10,
            max_inflight_messages=self._max_inflight,
            # MQTT 5 keeps a session with clean_start off and an expiry; 3.1.1 with clean_session.
            clean_session=None if v5 else not self._persistent,
            clean_start=(not self._persistent) if v5 else MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            username=self.url.username,
            password=self.url.password,
            tls_context=self.url.ssl_context(),
        )

    async def __aenter__(self) -> Self:
        version = {4: aiomqtt.ProtocolVersion.V311, 5: aiomqtt.ProtocolVersion.V5}.get(
            self._wanted_protocol or await _broker_protocol(self.url)
        )
        assert version is not None
        client = self._make_client(version)
        connected = False
        try:
            with cancellation_kept():
                await client.__aenter__()
                connected = True
        except aiomqtt.MqttError as exc:
            _protocol_of.pop(self.url.endpoint, None)  # the next attempt probes again
            raise _connect_error(self.url, self.client_id, exc) from None
        except asyncio.CancelledError:
            if connected:  # cancelled as the CONNACK came: leave no connection behind
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.__aexit__(None, None, None)
            raise
        self._client = client
        self._version = 5 if version == aiomqtt.ProtocolVersion.V5 else 4
        # Small request/response packets: without TCP_NODELAY, Nagle's algorithm holds a
        # packet until the previous one is acknowledged, and a delayed ACK makes that ~40 ms.
        sock = client._client.socket()  # the paho client under aiomqtt's
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                with cancellation_kept():
                    await client.__aexit__(exc_type, exc, tb)
            except aiomqtt.MqttError as error:
                log.debug("%s: disconnect: %s", self.client_id, error)

    def abort(self) -> None:
        """Cut the connection without an MQTT DISCONNECT, as a power cut or a pulled cable
        would: the broker publishes the Will; this client's message stream ends with
        TransportError."""
        if self._client is None:
            return
        sock = self._client._client.socket()  # the paho client under aiomqtt's
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _connected(self) -> aiomqtt.Client:
        if self._client is None:
            raise TransportError(f"{self.client_id} is not connected to {self.url}")
        return self._client

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
        properties = None
        if self._version == 5 and (response_topic or correlation or content_type):
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if response_topic:
                properties.ResponseTopic = response_topic
            if correlation:
                properties.CorrelationData = correlation
            if content_type:
                properties.ContentType = content_type
        try:
            with cancellation_kept():
                await self._connected().publish(
                    topic, payload, qos=qos, retain=retain, properties=properties
                )
        except aiomqtt.MqttError as exc:
            raise TransportError(f"{self.client_id}: publish to {topic} failed: {exc}") from None

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        try:
            with cancellation_kept():
                await self._connected().subscribe(topic_filter, qos=qos)
        except aiomqtt.MqttError as exc:
            raise TransportError(f"{self.client_id}: subscribe {topic_filter}: {exc}") from None

    async def messages(self) -> AsyncIterator[Inbound]:
        """Received messages until the connection ends (then TransportError)."""
        client = self._connected()
        try:
            async for message in client.messages:
                props = message.properties
                payload = message.payload
                yield Inbound(
                    topic=message.topic.value,
                    payload=payload if isinstance(payload, bytes) else str(payload).encode(),
                    retain=bool(message.retain),
                    response_topic=getattr(props, "ResponseTopic", None) if props else None,
                    correlation=getattr(props, "CorrelationData", None) if props else None,
                    content_type=getattr(props, "ContentType", None) if props else None,
                )
        except aiomqtt.MqttError as exc:
            raise TransportError(f"{self.client_id}: connection lost: {exc}") from None
