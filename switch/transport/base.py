"""The publish/subscribe interface the switch and terminals use, independent of MQTT client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

__all__ = ["BrokerUrl", "Inbound", "Transport", "TransportError", "WillMessage"]


class TransportError(ConnectionError):
    """The broker connection failed or was lost; the message says which broker and why."""


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """``mqtt://host:port`` (port 1883 when omitted)."""

    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in {"mqtt", "tcp"}:
            raise ValueError(f"broker URL {url!r}: only mqtt://host:port is supported")
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        try:
            port = parts.port or 1883
        except ValueError:
            raise ValueError(f"broker URL {url!r} has an invalid port") from None
        return cls(parts.hostname, port)

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


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
