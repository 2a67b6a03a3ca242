"""The publish/subscribe interface the switch and terminals use, independent of MQTT client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from wire.transport.url import BrokerUrl

__all__ = ["BrokerUrl", "Inbound", "Transport", "TransportError", "WillMessage"]


class TransportError(ConnectionError):
    """The broker connection failed or was lost; the message says which broker and why."""


@dataclass(frozen=True, slots=True)
class WillMessage:
    """Last Will: published by the broker if the client vanishes without disconnecting."""

    topic: str
    payload: bytes
    retain: bool = True
    qos: int = 1


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received message. ``response_topic``/``correlation`` are set by MQTT 5 senders."""

    topic: str
    payload: bytes
    retain: bool = False
    response_topic: str | None = None
    correlation: bytes | None = None
    content_type: str | None = None


class Transport(Protocol):
    """A connected publish/subscribe client."""

    @property
    def protocol_version(self) -> int:
        """5 for MQTT 5, 4 for MQTT 3.1.1."""
        ...

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
    ) -> None: ...

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...

    def messages(self) -> AsyncIterator[Inbound]: ...
