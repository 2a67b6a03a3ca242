"""Day's-end clearing and settlement: fees, net positions that sum to zero, one run per item;
on SQLite and on PostgreSQL (the ``backend`` fixture)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cards import default_card_set
from switch.ledger import Outcome, Phase, Transfer, merchant_account
from switch.ledger.clearing import basis_points
from switch.ledger.postings import (
    completion_post,
    preauth_hold,
    purchase_hold,
    refund_hold,
    reversal_of_hold,
)
from tests.ledgers import AnyLedger, LedgerBackend
from tpesim.settle import (
    SettlementResult,
    render_reports,
    render_settlement,
    report_again,
    report_document,
    run_settlement,
    write_report,
)
from wire.clock import ManualClock
from wire.registry import default_registry

CARDS = default_card_set()
DAY = date(2026, 11, 23)
MERCHANT = merchant_account("DZ0000000000101", "DZD")


def test_basis_points_round_half_up() -> None:
    assert basis_points(100_000, 20) == 200  # 0.2 % of 1 000 DA = 2 DA
    assert basis_points(2_499, 20) == 5  # 4.998 → 5
    assert basis_points(2_474, 20) == 5  # 4.948 → 5
    assert basis_points(2_475, 20) == 5  # 4.95 → 5
    assert basis_points(2_224, 20) == 4  # 4.448 → 4
    assert basis_points(0, 20) == 0


def _key(stan: int) -> tuple[str, int, str]:
    return ("DZAL0001", stan, f"1123{stan:06d}")


def _hold(make: Callable[..., Transfer], stan: int, amount: int) -> Transfer:
    return make(
        key=_key(stan),
        card_id="EDH-VALID",
        cardholder_account="CCP-0001001",
        merchant_account=MERCHANT.id,
        amount=amount,
        currency="DZD",
        issuer_day=DAY,
        business_day=DAY,
        rrn=f"{stan:012d}",
    )


async def _record(ledger: AnyLedger, transfer: Transfer, mti: str, stan: int) -> None:
    await ledger.record(
        _key(stan), mti=mti, digest=str(stan), response_code="00", response=b"{}",
        transfers=[transfer], accounts=[MERCHANT],
    )  # fmt: skip


@pytest.fixture
async def day_of_trade(backend: LedgerBackend) -> LedgerBackend:
    """Two purchases (one reversed), a refund and a pre-authorization completed in part."""
    clock = ManualClock(datetime(2026, 11, 23, 10, tzinfo=UTC))
    async with backend.open(CARDS, clock) as ledger:
        await _record(ledger, _hold(purchase_hold, 1, 100_000), "0200", 1)
        reversed_hold = _hold(purchase_hold, 2, 50_000)
        await _record(ledger, reversed_hold, "0200", 2)
        await _record(ledger, reversal_of_hold(reversed_hold, None, key=_key(3)), "0400", 3)
        await _record(ledger, _hold(refund_hold, 4, 20_000), "0200", 4)
        preauth = _hold(preauth_hold, 5, 80_000)
        await _record(ledger, preauth, "0100", 5)
        completion = completion_post(preauth, key=_key(6), amount=60_000, business_day=DAY)
        await _record(ledger, completion, "0220", 6)
    return backend


NEXT_NIGHT = datetime(2026, 11, 24, 1, tzinfo=UTC)
"""When the day is settled unless a test says otherwise: within the holds' 5 days (a test on
the machine's clock would find the day's purchase holds expired once the date has moved on)."""


async def _settle(
    backend: LedgerBackend, out: Path, clock: ManualClock | None = None
) -> SettlementResult:
    clock = clock or ManualClock(NEXT_NIGHT)
    return await run_settlement(backend.location, DAY, cards=CARDS, registry=default_registry(),
                                out=out, clock=clock)  # fmt: skip


async def test_a_settled_day_is_reported_again_without_clearing(
    day_of_trade: LedgerBackend, tmp_path: Path
) -> None:
    """Issue 20: settling again clears nothing; --report-only writes the stored report again
    under the same names (the same report: the files are kept); another ledger's run of the
    same day reported into the same directory gets names of its own, not the first's."""
    first = await _settle(day_of_trade, tmp_path / "out")
    assert first.plan is not None
    again = await _settle(day_of_trade, tmp_path / "out")
    assert again.plan is None and again.files == ()
    reported = await report_again(day_of_trade.location, DAY, out=tmp_path / "out")
    assert [files for _, files in reported] == [first.files]
    assert reported[0][0] == report_document(first.plan)
    assert "reported again, nothing cleared" in render_reports(DAY, reported)
    other = dict(reported[0][0], holds_cleared=99)
    assert write_report(other, tmp_path / "out")[1].name == "settlement-2026-11-23-1-2.json"
    kept = json.loads(first.files[1].read_text())["holds_cleared"]
    assert kept == sum(line.count for line in first.plan.lines)  # the first report, untouched
    async with day_of_trade.open() as ledger:
        assert len(await ledger.settlement_reports(DAY)) == 1
    assert await report_again(day_of_trade.location, date(2026, 11, 22), out=tmp_path) == []


async def test_settling_after_the_holds_expired_says_so(
    day_of_trade: LedgerBackend, tmp_path: Path
) -> None:
    """Settled twelve days late, the day's purchase hold has expired: only the completion is
    cleared, and the result says one hold will never be."""
    late = ManualClock(datetime(2026, 12, 5, 12, tzinfo=UTC))
    result = await _settle(day_of_trade, tmp_path / "out", late)
    assert result.plan is not None and result.plan.totals["DZD"].sales == 1
    assert result.expired == 2  # the sale still held and the refund: 5 days went by
    assert "2 sale or refund hold(s) of 2026-11-23 expired" in render_settlement(result)
    on_time = await _settle(day_of_trade, tmp_path / "again")
    assert on_time.expired == 2  # what expired stays expired


async def test_settlement_clears_charges_fees_and_nets_to_zero(
    day_of_trade: LedgerBackend, tmp_path: Path
) -> None:
    """Sales 1 000 DA + 600 DA (completion), refund 200 DA; Edahabia's 0.2 % discount (3,20 DA)
    and 0.1 % interchange (1,60 DA). The merchant gets 1 600 - 200 - 3,20 DA; the issuer pays
    1 600 - 200 DA and earns 1,60 DA; the acquirer keeps 1,60 DA."""
    result = await _settle(day_of_trade, tmp_path / "out")
    plan = result.plan
    assert plan is not None and plan.run == "2026-11-23#1"
    totals = plan.totals["DZD"]
    assert (totals.sales, totals.sales_amount) == (2, 160_000)
    assert (totals.refunds, totals.refunds_amount) == (1, 20_000)
    assert (totals.merchant_fees, totals.interchange) == (320, 160)
    assert plan.positions == {
        ("acquirer:ALGERIE POSTE", "DZD"): 160,
        ("issuer:algerie-poste", "DZD"): -140_000 + 160,
        ("merchant:DZ0000000000101", "DZD"): 140_000 - 320,
    }
    assert result.check.ok, result.check.render()
    document = json.loads((tmp_path / "out" / "settlement-2026-11-23-1.json").read_text())
    assert document["positions_sum_to_zero"] is True
    csv_text = (tmp_path / "out" / "settlement-2026-11-23-1.csv").read_text()
    assert 'merchant:DZ0000000000101,DZD,139680,"1 396,80 DZD"' in csv_text
    assert "sum DZD" in render_settlement(result)
    async with day_of_trade.open() as ledger:
        assert await ledger.available("CCP-0001001") == 15_000_000 - 160_000 + 20_000
        balances = await ledger.balances("CCP-0001001")
        assert balances is not None and balances.debits_pending == 0
        # One clearing transfer per line (the purchase, the refund), each posting its holds.
        cleared = await ledger.transfers_where("kind = 'clearing'")
        assert {t.phase for t in cleared} == {Phase.CLEAR} and len(cleared) == 2
        resolution = await ledger.resolution_of("purchase:DZAL0001:000001:1123000001")
        assert resolution is not None and resolution.phase is Phase.POST
        assert resolution.id.startswith("clearing:2026-11-23#1:") and resolution.amount == 100_000
    again = await _settle(day_of_trade, tmp_path / "out")
    assert again.plan is None and again.check.ok


async def test_a_cleared_hold_is_resolved_and_a_late_reversal_corrects_it(
    day_of_trade: LedgerBackend, tmp_path: Path
) -> None:
    """After clearing, the database refuses to void or post a cleared hold again; a reversal
    that arrives late is a correcting transfer back, settled by the next run. (Each step has
    its own switch clock, in order: on the wall clock the test would depend on the hour.)"""
    await _settle(day_of_trade, tmp_path, ManualClock(datetime(2026, 11, 23, 17, tzinfo=UTC)))
    hold = _hold(purchase_hold, 1, 100_000)
    clock = ManualClock(datetime(2026, 11, 23, 18, tzinfo=UTC))
    async with day_of_trade.open(clock=clock) as ledger:
        void = replace(reversal_of_hold(hold, None, key=_key(90)), id="probe:void")
        assert await ledger.apply([void]) == [Outcome.PENDING_ALREADY_POSTED]
        resolution = await ledger.resolution_of(hold.id)
        late = reversal_of_hold(hold, resolution, key=_key(91))
        assert late.phase is Phase.SINGLE and late.debit_account == MERCHANT.id
        assert hold.card_id is not None and hold.issuer_day is not None
        spent = await ledger.spent_on_day(hold.card_id, hold.issuer_day)
        await _record(ledger, late, "0400", 91)
        # The card's day limit gets the reversed sale back.
        assert await ledger.spent_on_day(hold.card_id, hold.issuer_day) == spent - 100_000
    evening = ManualClock(datetime(2026, 11, 23, 19, tzinfo=UTC))
    second = await _settle(day_of_trade, tmp_path, evening)
    assert second.plan is not None and second.plan.run == "2026-11-23#2"
    assert second.plan.totals["DZD"].corrections_amount == 100_000
    assert second.plan.positions[("merchant:DZ0000000000101", "DZD")] == -100_000
    assert second.check.ok, second.check.render()


async def test_checker_catches_a_hold_cleared_after_it_was_voided(
    day_of_trade: LedgerBackend, tmp_path: Path
) -> None:
    """A cleared_holds row for a hold a reversal had voided is a hold resolved twice, and its
    clearing no longer adds up."""
    await _settle(day_of_trade, tmp_path)
    await day_of_trade.raw([
        "INSERT INTO cleared_holds SELECT h.seq, (SELECT id FROM transfers "
        "WHERE phase = 'clear' LIMIT 1) FROM transfers h "
        "WHERE h.id = 'purchase:DZAL0001:000002:1123000002'"
    ])  # fmt: skip
    report = await day_of_trade.check()
    assert "hold resolves once" in report.failed()
    assert any("was also void" in p for p in report.problems)
    assert any("holds add up to" in p for p in report.problems)
