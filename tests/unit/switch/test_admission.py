"""The per-terminal rate limit (token buckets on a given clock) and the log budget that keeps a
flood of bad messages from becoming a flood of log lines."""

from __future__ import annotations

import logging

import pytest

from switch.rules.admission import REFUSAL_COST, LogBudget, RateLimit, TerminalAdmission


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_gets_its_burst_then_its_rate(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    admission = TerminalAdmission(RateLimit(rate=10, burst=3), clock)
    assert [admission.admit("FLOODER1") for _ in range(5)] == [True, True, True, False, False]
    assert admission.admit("QUIET001")  # the others keep their own buckets
    clock.now += 0.1  # one token back
    assert [admission.admit("FLOODER1") for _ in range(2)] == [True, False]
    assert admission.dropped == {"FLOODER1": 3}
    assert admission.over_limit == {"FLOODER1": 3}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "FLOODER1 sends more than 10 messages/s" in warnings[0]
    clock.now += 0.3  # quiet until the bucket is full again: back under the limit
    caplog.clear()
    assert admission.admit("FLOODER1")
    assert admission.over_limit == {}
    assert "back under its rate limit; 3 messages were dropped" in caplog.text


def test_a_steady_flood_gets_the_rate_and_no_more() -> None:
    clock = Clock()
    admission = TerminalAdmission(RateLimit(rate=50, burst=100), clock)
    admitted = 0
    for _ in range(20_000):  # 2 000 messages/s for 10 s
        clock.now += 0.0005
        admitted += admission.admit("FLOODER1")
    assert 100 + 50 * 10 - 1 <= admitted <= 100 + 50 * 10
    assert admission.dropped["FLOODER1"] == 20_000 - admitted


def test_a_flood_of_refused_messages_is_read_at_a_tenth_of_the_rate() -> None:
    """Each refused message costs REFUSAL_COST tokens: after its burst, a terminal sending
    garbage is read rate / REFUSAL_COST times a second; one sending good messages is not."""
    clock = Clock()
    admission = TerminalAdmission(RateLimit(rate=50, burst=100), clock)
    refused = good = 0
    for _ in range(20_000):  # 2 000 messages/s for 10 s from each
        clock.now += 0.0005
        if admission.admit("FLOODER1"):
            refused += 1
            admission.refused("FLOODER1")  # answered 30
        good += admission.admit("HONEST01")
    expected = 100 // REFUSAL_COST + 50 * 10 // REFUSAL_COST  # the burst, then rate / cost
    assert expected - 2 <= refused <= expected + 1
    assert good >= 100 + 50 * 10 - 1


def test_a_terminal_in_debt_is_read_again_once_it_has_been_quiet() -> None:
    clock = Clock()
    admission = TerminalAdmission(RateLimit(rate=10, burst=3), clock)
    assert admission.admit("FLOODER1")
    admission.refused("FLOODER1")  # 2 - 9 tokens, but in debt by at most a burst: -3
    assert not admission.admit("FLOODER1")
    clock.now += 0.35  # 0.5 tokens
    assert not admission.admit("FLOODER1")
    clock.now += 0.1
    assert admission.admit("FLOODER1")


def test_rate_limits_parse_and_refuse_nonsense() -> None:
    assert RateLimit.parse("50") == RateLimit(50, 100)
    assert RateLimit.parse("2.5/7") == RateLimit(2.5, 7)
    for bad in ("", "fast", "10/x", "0", "-1/5", "10/0"):
        with pytest.raises(ValueError, match="rate limit"):
            RateLimit.parse(bad)


def test_the_log_budget_writes_one_line_a_second_and_counts_the_rest() -> None:
    budget = LogBudget(every_s=1.0)
    assert budget.take("DZAL0001", 10.0) == 0
    assert [budget.take("DZAL0001", 10.0 + n / 10) for n in range(1, 10)] == [None] * 9
    assert budget.take("DZAL0002", 10.5) == 0  # per terminal
    assert budget.take("DZAL0001", 11.0) == 9
    assert budget.take("DZAL0001", 12.5) == 0
