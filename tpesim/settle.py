"""``tpesim settle``: clear and settle a business day, write the report (CSV, JSON) and a summary.

The CSV has one row per participant and currency (net position in minor units and formatted);
the JSON holds the run, the day's totals per currency and the same positions. Positions are
what a participant receives (+) or pays (-) in the run; per currency they sum to zero.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cards.catalog import CardSet
from cards.currency import format_money as _money
from switch.clock import Clock
from switch.ledger.check import LedgerReport
from switch.ledger.clearing import ClearingPlan
from switch.ledger.where import LedgerLocation, check_location, open_ledger, postgres_location
from switch.registry import Registry
from switch.settlement import settle_day

__all__ = ["SettlementResult", "render_settlement", "run_settlement"]


@dataclass(frozen=True)
class SettlementResult:
    """A settlement run's plan (None: nothing left to settle), its report files and the check."""

    day: date
    plan: ClearingPlan | None
    files: tuple[Path, ...]
    check: LedgerReport
    expired: int = 0
    """Holds of the day that expired before this run (never to be cleared)."""


def report_document(plan: ClearingPlan) -> dict[str, Any]:
    """The JSON settlement report of ``plan``."""
    return {
        "run": plan.run,
        "business_day": plan.day.isoformat(),
        "holds_cleared": sum(line.count for line in plan.lines),
        "clearing_transfers": len(plan.lines),
        "other_transfers_settled": len(plan.settled),
        "totals": {code: asdict(totals) for code, totals in sorted(plan.totals.items())},
        "positions": [
            {"participant": participant, "currency": code, "position": value}
            for (participant, code), value in plan.positions.items()
        ],
        "positions_sum_to_zero": all(
            sum(v for (_, c), v in plan.positions.items() if c == code) == 0
            for code in {c for _, c in plan.positions}
        ),
    }


def write_report(plan: ClearingPlan, directory: Path) -> tuple[Path, Path]:
    """Write ``settlement-<run>.csv`` and ``.json`` into ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"settlement-{plan.run.replace('#', '-')}"
    csv_path, json_path = directory / f"{stem}.csv", directory / f"{stem}.json"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "business_day", "participant", "currency", "position_minor",
                         "position"])  # fmt: skip
        for (participant, code), value in plan.positions.items():
            writer.writerow(
                [plan.run, plan.day.isoformat(), participant, code, value, _money(value, code)]
            )
    json_path.write_text(json.dumps(report_document(plan), indent=2) + "\n", encoding="utf-8")
    return csv_path, json_path


def render_settlement(result: SettlementResult) -> str:
    """The human summary of a settlement run."""
    plan = result.plan
    if plan is None:
        lines = [f"settlement {result.day}: nothing left to settle"]
    else:
        cleared = sum(line.count for line in plan.lines)
        lines = [
            f"settlement run {plan.run}: {cleared} holds cleared in {len(plan.lines)} clearing "
            f"transfers; {len(plan.settled)} fee, completion and correction transfers settled"
        ]
        for code, t in sorted(plan.totals.items()):
            lines += [
                f"  {code}: {t.sales} sales {_money(t.sales_amount, code)}, "
                f"{t.refunds} refunds {_money(t.refunds_amount, code)}, "
                f"{t.corrections} late reversals {_money(t.corrections_amount, code)}",
                f"       merchant fees {_money(t.merchant_fees, code)}, "
                f"interchange {_money(t.interchange, code)}",
            ]
            if t.abroad:
                lines.append(f"       {t.abroad} paid abroad by its cards "
                             f"{_money(t.abroad_amount, code)} (to the exchange desk)")  # fmt: skip
        lines.append("  net positions (+ receives, - pays):")
        width = max(len(p) for p, _ in plan.positions)
        for (participant, code), value in plan.positions.items():
            lines.append(f"    {participant:<{width}}  {_money(value, code):>22}")
        for code in sorted({c for _, c in plan.positions}):
            total = sum(v for (_, c), v in plan.positions.items() if c == code)
            lines.append(f"    {'sum ' + code:<{width}}  {_money(total, code):>22}")
        lines += [f"  report: {path}" for path in result.files]
    if result.expired:
        lines.append(
            f"  warning: {result.expired} sale or refund hold(s) of {result.day} expired before "
            "this run (5 days on the switch clock) and will never be cleared"
        )
    verdict = (
        "ledger OK" if result.check.ok else f"ledger: {len(result.check.problems)} violation(s)"
    )
    lines.append(f"  {verdict} after settlement")
    return "\n".join(lines)


async def run_settlement(
    db: LedgerLocation,
    day: date,
    *,
    cards: CardSet,
    registry: Registry,
    out: Path,
    clock: Clock | None = None,
) -> SettlementResult:
    """Settle ``day`` on the ledger at ``db`` (a SQLite file or a PostgreSQL URL), write the
    report into ``out``, check the ledger."""
    if postgres_location(db) is None and not Path(db).exists():
        raise FileNotFoundError(f"no ledger database at {db}")
    async with await open_ledger(db, clock=clock) as ledger:
        plan = await settle_day(ledger, day, cards=cards, registry=registry)
        expired, _ = await ledger.expired_on_business_day(day)
    files = write_report(plan, out) if plan else ()
    return SettlementResult(day, plan, files, await check_location(db), expired)
