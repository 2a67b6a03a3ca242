"""Reconnection backoff with full jitter (issue 21): delays drawn from a seeded RNG under an
exponential ceiling, for the switch and for each terminal."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, cast

import pytest

from switch.processor import Processor
from switch.service import SwitchService
from terminal.channel import Channel
from terminal.link import Link
from terminal.records import TerminalStats
from tpesim.broker.launcher import free_port
from wire.transport import MqttTransport
from wire.transport.backoff import Backoff
from wire.transport.base import BrokerUrl, TransportError


def test_each_delay_is_drawn_under_a_doubling_ceiling_and_reset_starts_again() -> None:
    backoff = Backoff(0.2, 5.0, random.Random(1))
    ceilings, delays = [], []
    for _ in range(8):
        ceilings.append(backoff.ceiling_s())
        delays.append(backoff.next_delay())
    assert ceilings == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.ceiling_s() == 0.2


def test_the_same_seed_gives_the_same_delays_and_a_fleet_spreads_out() -> None:
    """Reproducible per seed; 1 000 terminals' first delays cover the window, not one instant."""

    def first_delays(tid: str) -> list[float]:
        backoff = Backoff(0.1, 1.0, random.Random(f"reconnect:{tid}"))
        return [backoff.next_delay() for _ in range(3)]

    assert first_delays("DZAL0001") == first_delays("DZAL0001")
    fleet = [first_delays(f"T{n:04d}")[0] for n in range(1000)]
    assert len(set(fleet)) == 1000
    assert statistics.pstdev(fleet) > 0.02 and max(fleet) - min(fleet) > 0.09


class _EnoughError(Exception):
    """Ends a reconnection loop once enough delays were drawn."""


class _Recording(random.Random):
    """An RNG that records the ceilings it is asked to draw under and draws 0 (no wait)."""

    def __init__(self, draws: int) -> None:
        super().__init__(0)
        self.ceilings: list[float] = []
        self._draws = draws

    def uniform(self, a: float, b: float) -> float:
        self.ceilings.append(b)
        if len(self.ceilings) >= self._draws:
            raise _EnoughError
        return 0.0


class _Unreachable:
    """A transport whose broker is never there."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    async def __aenter__(self) -> Self:
        raise TransportError("cannot connect: refused")

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


async def test_the_switch_draws_its_reconnection_delays_from_its_rng() -> None:
    rng = _Recording(draws=7)
    service = SwitchService(
        cast(Processor, object()),
        BrokerUrl("127.0.0.1", 1),
        client=cast(type[MqttTransport], _Unreachable),
        rng=rng,
    )
    with pytest.raises(_EnoughError):
        await service.run()
    assert rng.ceilings == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


async def test_a_terminal_draws_its_reconnection_delays_from_its_rng() -> None:
    rng = _Recording(draws=6)
    channel = Channel("DZAL0001", BrokerUrl("127.0.0.1", free_port()), link=Link(),
                      stats=TerminalStats(), status=lambda: b"online",
                      now=lambda: datetime.now(UTC), rng=rng)  # fmt: skip
    with pytest.raises(_EnoughError):
        await channel.reconnect()
    assert rng.ceilings == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
