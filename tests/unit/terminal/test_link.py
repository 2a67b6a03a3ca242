"""The terminal link's faults: seeded, so the same seed loses, duplicates and delays the same
messages; one-shot faults apply to exactly the next messages."""

from __future__ import annotations

from terminal.link import Link, LinkFaults


def _fates(link: Link, messages: int) -> list[tuple[list[float], list[float]]]:
    return [(link.outbound(), link.inbound()) for _ in range(messages)]


def _lossy(seed: int) -> Link:
    link = Link(seed)
    link.faults = LinkFaults(delay_s=0.1, jitter_s=0.2, loss=0.3, duplicate=0.3)
    return link


def test_a_clean_link_delivers_everything_at_once() -> None:
    link = Link(1)
    assert link.faults.clean
    assert _fates(link, 20) == [([0.0], [0.0])] * 20
    assert (link.lost, link.duplicated, link.held) == (0, 0, 0)


def test_same_seed_same_faults_and_another_seed_others() -> None:
    assert _fates(_lossy(7), 200) == _fates(_lossy(7), 200)
    assert _fates(_lossy(7), 200) != _fates(_lossy(8), 200)


def test_random_faults_follow_their_probabilities() -> None:
    link = _lossy(3)
    fates = _fates(link, 2000)
    lost_out = sum(1 for out, _ in fates if not out)
    lost_in = sum(1 for _, back in fates if not back)
    twice = sum(1 for out, _ in fates if len(out) == 2)
    assert 500 < lost_out < 700 and 500 < lost_in < 700  # 30 % of 2000, either way
    assert 330 < twice < 510  # 30 % of the 70 % delivered
    assert link.lost == lost_out + lost_in and link.duplicated == twice
    delays = [d for out, _ in fates for d in out[:1]]
    assert all(0.1 <= d <= 0.3 for d in delays)
    assert max(delays) - min(delays) > 0.15  # the jitter is spread, not constant


def test_one_shot_faults_hit_exactly_the_next_messages() -> None:
    link = Link(0)
    link.faults.drop_requests = 2
    link.faults.drop_responses = 1
    link.faults.hold_requests_s.append(1.5)
    link.faults.hold_responses_s.append(2.0)
    assert [link.outbound() for _ in range(4)] == [[], [], [1.5], [0.0]]
    assert [link.inbound() for _ in range(3)] == [[], [2.0], [0.0]]
    assert (link.lost, link.held) == (3, 2)
    assert link.faults.clean


def test_duplicated_responses_arrive_twice_the_copy_later() -> None:
    """With ``duplicate_responses_s``, each response comes twice: at once, and that much later."""
    link = Link(0)
    link.faults.duplicate_responses_s = 0.25
    assert [link.inbound() for _ in range(2)] == [[0.0, 0.25]] * 2
    assert link.duplicated == 2
