"""The ledger checker's report itself: which checks make a ledger unbalanced, how a long list
of violations is cut, and the words of the expiry check (a post after the deadline is not an
early expiry). Corruptions of each invariant are in test_ledger.py."""

from __future__ import annotations

import pytest

from switch.ledger.checker.check import CHECKS, LedgerReport
from tests.ledgers import LedgerBackend
from tests.unit.ledger.test_ledger import HOLD, sound_ledger  # noqa: F401 - the fixture

BACKENDS_SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _report(**found: list[str]) -> LedgerReport:
    empty: dict[str, list[str]] = {name: [] for name in CHECKS}
    results = empty | {k.replace("_", " "): v for k, v in found.items()}
    problems = [p for violations in results.values() for p in violations]
    return LedgerReport(results, postings=3, approvals=2, reversals=1, holds_pending=1,
                        negative_accounts=0, problems=problems)  # fmt: skip


@pytest.mark.parametrize(
    ("found", "balanced"),
    [({}, True), ({"conservation": ["x"]}, False), ({"counters": ["x"]}, False),
     ({"conservation": ["x"], "counters": ["y"]}, False), ({"settlement": ["x"]}, True)],
)  # fmt: skip
def test_a_ledger_is_unbalanced_by_conservation_or_counters_only(
    found: dict[str, list[str]], balanced: bool
) -> None:
    report = _report(**found)
    assert report.balanced is balanced
    assert report.ok == (not found)


def test_the_report_lists_twenty_violations_of_a_check_then_counts_the_rest() -> None:
    exactly = _report(counters=[f"p{i}" for i in range(20)]).render()
    assert "       - p19" in exactly and "more" not in exactly
    one_over = _report(counters=[f"p{i}" for i in range(21)]).render()
    assert "p20" not in one_over and "       … and 1 more" in one_over
    over = _report(counters=[f"p{i}" for i in range(23)]).render()
    assert "       - p19" in over and "p20" not in over
    assert "       … and 3 more" in over
    assert "ledger: 23 violation(s)" in over and "  FAIL counters" in over


@BACKENDS_SQLITE
async def test_a_post_after_the_deadline_is_told_apart_from_an_early_expiry(
    sound_ledger: LedgerBackend,  # noqa: F811 - the fixture
) -> None:
    await sound_ledger.raw([
        "DROP TRIGGER transfers_rules_resolution", "DROP TRIGGER transfers_resolve",
        "DROP INDEX transfers_one_resolution",
        "INSERT INTO transfers (id, kind, phase, pending_id, debit_account, credit_account, "
        "amount, currency, at_us, digest) SELECT 'late-post', 'completion', 'post', id, "
        "debit_account, credit_account, amount, currency, at_us + timeout_s * 1000000, '' "
        f"FROM transfers WHERE id = '{HOLD}'",
        "INSERT INTO transfers (id, kind, phase, pending_id, debit_account, credit_account, "
        "amount, currency, at_us, digest) SELECT 'early-expiry', 'expiry', 'expire', id, "
        "debit_account, credit_account, amount, currency, at_us + 1, '' "
        f"FROM transfers WHERE id = '{HOLD}'",
    ])  # fmt: skip
    found = (await sound_ledger.check()).results["expiry on switch clock"]
    assert any(p.startswith(f"hold {HOLD} post at ") and "after its deadline" in p for p in found)
    assert any(p.startswith(f"hold {HOLD} expired early at ") for p in found), found
