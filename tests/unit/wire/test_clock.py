"""The simulated clock runs faster than real time and jumps forward, never back; ``at`` marks
in scenario files name the next such local time or a time later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tpesim.scenario.model import moment
from wire.clock import OffsetClock, ScaledClock
from wire.protocol.fields import format_transmission_time, transmission_skew

START = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Africa/Algiers"))


class FakeMonotonic:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_the_clock_runs_speed_times_faster_and_jumps_forward_only() -> None:
    real = FakeMonotonic()
    clock = ScaledClock(START, speed=120, monotonic=real)
    assert clock.now() == START.astimezone(UTC)
    real.value += 30  # half a real minute: an hour of simulated time
    assert clock.now() == START + timedelta(hours=1)
    clock.advance_to(START + timedelta(hours=5))
    assert clock.now() == START + timedelta(hours=5)
    clock.advance_to(START)  # the past: the clock stays
    assert clock.now() == START + timedelta(hours=5)
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        ScaledClock(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("09:15", datetime(2026, 11, 23, 9, 15)),
        ("07:30", datetime(2026, 11, 24, 7, 30)),  # passed today: tomorrow morning
        ("08:00", datetime(2026, 11, 23, 8, 0)),  # now counts as still to come
        ("+30m", datetime(2026, 11, 23, 8, 30)),
        ("+6d", datetime(2026, 11, 29, 8, 0)),
        ("+1.5h", datetime(2026, 11, 23, 9, 30)),
    ],
)
def test_at_names_the_next_local_time_or_a_delay(at: str, expected: datetime) -> None:
    zone = ZoneInfo("Africa/Algiers")
    assert moment(at, START, zone) == expected.replace(tzinfo=zone)


def test_a_terminal_clock_can_be_off_and_de7_says_by_how_much() -> None:
    base = ScaledClock(START, monotonic=FakeMonotonic())
    fast = OffsetClock(base, 3 * 3600)
    assert fast.now() - base.now() == timedelta(hours=3)
    now = base.now()
    assert transmission_skew(format_transmission_time(fast.now()), now) == 3 * 3600
    assert transmission_skew(format_transmission_time(now - timedelta(days=1.5)), now) == -129600
    new_year = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)  # a DE7 of 31 December is last year's
    assert transmission_skew("1231235500", new_year) == -600
    assert transmission_skew("1399999999", now) is None
