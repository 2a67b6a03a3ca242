"""``tpesim settle``: clear and settle a business day, write the report (CSV, JSON) and a summary.

The CSV has one row per participant and currency (net position in minor units and formatted);
the JSON holds the run, the day's totals per currency and the same positions. Positions are
what a participant receives (+) or pays (-) in the run; per currency they sum to zero.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cards.catalog import CardSet, load_card_set
from cards.currency import format_money as _money
from switch.flows.settlement import report_document, settle_day, stored_reports
from switch.ledger.checker.check import LedgerReport
from switch.ledger.clearing import ClearingPlan
from switch.ledger.errors import LedgerUnavailableError
from switch.ledger.where import (
    LedgerLocation,
    check_location,
    ledger_location,
    open_ledger,
    require_existing_ledger,
)
from tpesim.cli.support import CliError
from wire.clock import Clock, SystemClock
from wire.registry import Registry

__all__ = [
    "SettlementResult",
    "add_settle_command",
    "render_reports",
    "render_settlement",
    "report_again",
    "report_document",
    "run_settlement",
    "settle_command",
]


@dataclass(frozen=True)
class SettlementResult:
    """A settlement run's plan (None: nothing left to settle), its report files and the check."""

    day: date
    plan: ClearingPlan | None
    files: tuple[Path, ...]
    check: LedgerReport
    expired: int = 0
    """Holds of the day that expired before this run (never to be cleared)."""


def write_report(document: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write a run's report (its ``document``) as ``settlement-<run>.csv`` and ``.json`` into
    ``directory``; their paths. A report of the same name already there is never overwritten:
    kept when it is the same report, otherwise this one gets the next free ``-2``, ``-3``...
    suffix (another ledger's run of the same day, say)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"settlement-{str(document['run']).replace('#', '-')}"
    rows = [["run", "business_day", "participant", "currency", "position_minor", "position"]]
    rows += [
        [document["run"], document["business_day"], p["participant"], p["currency"],
         p["position"], _money(p["position"], p["currency"])]
        for p in document["positions"]
    ]  # fmt: skip
    csv_text = "".join(",".join(_cell(value) for value in row) + "\r\n" for row in rows)
    json_text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    for suffix in itertools.chain([""], (f"-{n}" for n in itertools.count(2))):
        csv_path = directory / f"{stem}{suffix}.csv"
        json_path = directory / f"{stem}{suffix}.json"
        if not csv_path.exists() and not json_path.exists():
            csv_path.write_text(csv_text, encoding="utf-8", newline="")
            json_path.write_text(json_text, encoding="utf-8", newline="")
            return csv_path, json_path
        if _holds(csv_path, csv_text) and _holds(json_path, json_text):
            return csv_path, json_path
    raise AssertionError("unreachable")


def _holds(path: Path, text: str) -> bool:
    return path.exists() and path.read_bytes() == text.encode("utf-8")


def _cell(value: object) -> str:
    """One CSV cell (quoted when it needs to be)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([value])
    return buffer.getvalue()


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
    await require_existing_ledger(db)
    async with await open_ledger(db, clock=clock) as ledger:
        plan = await settle_day(ledger, day, cards=cards, registry=registry)
        expired, _ = await ledger.expired_on_business_day(day)
    files = write_report(report_document(plan), out) if plan else ()
    return SettlementResult(day, plan, files, await check_location(db), expired)


async def report_again(
    db: LedgerLocation, day: date, *, out: Path
) -> list[tuple[dict[str, Any], tuple[Path, Path]]]:
    """The reports of ``day``'s settlement runs, as stored with them, written into ``out`` again
    (nothing is cleared: ``tpesim settle --report-only``); each document and its files."""
    await require_existing_ledger(db)
    async with await open_ledger(db) as ledger:
        documents = await stored_reports(ledger, day)
    return [(document, write_report(document, out)) for document in documents]


def render_reports(day: date, reported: list[tuple[dict[str, Any], tuple[Path, Path]]]) -> str:
    """The summary of ``tpesim settle --report-only``."""
    if not reported:
        return f"settlement {day}: no run settled that day (nothing to report)"
    lines = []
    for document, files in reported:
        lines.append(f"settlement run {document['run']} (reported again, nothing cleared): "
                     f"{document['holds_cleared']} holds cleared")  # fmt: skip
        for position in document["positions"]:
            money = _money(position["position"], position["currency"])
            lines.append(f"    {position['participant']:<28}  {money:>22}")
        lines += [f"  report: {path}" for path in files]
    return "\n".join(lines)


def _business_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def add_settle_command(sub: Any) -> None:
    """Add ``tpesim settle`` to the CLI's subcommands ``sub``."""
    settle = sub.add_parser(
        "settle",
        help="day's end: clear a business day, charge fees, write net positions (CSV, JSON)",
    )
    settle.add_argument("--db", type=ledger_location, required=True,
                        help="ledger: a SQLite file or a postgresql:// URL")  # fmt: skip
    settle.add_argument(
        "--date",
        type=_business_date,
        help="business day YYYY-MM-DD (default: today in Algiers)",
    )
    settle.add_argument(
        "--out", type=Path, help="report directory (default: beside a ledger file, or here)"
    )
    settle.add_argument("--cards", type=Path, help="card set file (default: the shipped set)")
    settle.add_argument("--registry", type=Path, help="merchants file (default: the shipped one)")
    settle.add_argument("--json", action="store_true", help="print the JSON report")
    settle.add_argument("--report-only", action="store_true",
                        help="clear nothing: write the reports of the day's runs again, as they "
                        "were stored when the day was settled")  # fmt: skip


async def settle_command(args: argparse.Namespace) -> int:
    """Run ``tpesim settle`` (or, with ``--report-only``, report a settled day again)."""
    day = args.date or SystemClock().now().astimezone(ZoneInfo("Africa/Algiers")).date()
    out = args.out or (args.db.parent if isinstance(args.db, Path) else Path.cwd())
    if args.report_only:
        try:
            reported = await report_again(args.db, day, out=out)
        except (FileNotFoundError, LedgerUnavailableError) as error:
            raise CliError(str(error)) from None
        if args.json:
            print(json.dumps([document for document, _ in reported]))
        else:
            print(render_reports(day, reported))
        return 0
    try:
        result = await run_settlement(
            args.db,
            day,
            cards=load_card_set(args.cards),
            registry=Registry.load(args.registry),
            out=out,
        )
    except (FileNotFoundError, LedgerUnavailableError) as error:
        raise CliError(str(error)) from None
    if args.json:
        document = report_document(result.plan) if result.plan else {"run": None}
        print(
            json.dumps(document | {"ledger_ok": result.check.ok, "expired_holds": result.expired})
        )
    else:
        print(render_settlement(result))
    return 0 if result.check.ok else 1
