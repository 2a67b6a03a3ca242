"""The switch's reading loop survives a publish the broker refuses (issue 21)."""

from __future__ import annotations

from typing import cast

import pytest

from switch.processor import Processor
from switch.rules.issuers import IssuerState
from switch.service import SwitchService
from wire.protocol import topics
from wire.transport import MqttTransport
from wire.transport.base import BrokerUrl, Inbound, TransportError


class _Issuers:
    """The one Processor method an issuer command needs."""

    def __init__(self) -> None:
        self.states: list[IssuerState] = []

    async def set_issuer(self, issuer: str, state: IssuerState, latency_s: float = 0.0) -> int:
        self.states.append(state)
        return 0


class _Refusing:
    """A transport whose broker refuses every publish (PUBACK 0x87)."""

    async def publish(self, topic: str, payload: bytes, **options: object) -> None:
        raise TransportError(f"switch: publish to {topic} refused: not authorized (0x87)")


async def test_a_refused_issuer_status_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The command applies; its retained status, refused, is a warning: the loop goes on."""
    issuers = _Issuers()
    service = SwitchService(cast(Processor, issuers), BrokerUrl("127.0.0.1", 1))
    command = Inbound(topics.issuer_control("cib"), b"down")
    await service._control(cast(MqttTransport, _Refusing()), command)
    assert issuers.states == [IssuerState.DOWN]
    assert "its status was not published" in caplog.text
    assert "0x87" in caplog.text
