"""Settle a business day on a ledger: the thin shell around :mod:`switch.ledger.clearing`.

Looks up each card's product (fees, issuer) in the card set and each merchant's acquirer in the
registry, and lets the ledger run the plan in one transaction, its report document stored with
it (``settlement_reports``: a settled day can be reported again without clearing anything).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Any

from cards.catalog import CardSet
from cards.models import CardProduct
from switch.ledger.clearing import ClearingLine, ClearingPlan, plan_clearing
from switch.ledger.rules import LedgerAccount, Transfer
from switch.ledger.where import AnyLedger
from wire.registry import Registry

__all__ = ["report_document", "settle_day", "stored_reports"]

UNKNOWN_ACQUIRER = "UNKNOWN"


async def settle_day(
    ledger: AnyLedger, day: date, *, cards: CardSet, registry: Registry
) -> ClearingPlan | None:
    """Clear and settle business ``day``; the run's plan, or None if nothing was left to settle."""

    def product_of(card_id: str) -> CardProduct | None:
        try:
            return cards.products[cards.card(card_id).product]
        except KeyError:  # a card no longer in the set: no fees known for it
            return None

    def acquirer_of(merchant_account: str) -> str:
        mid = merchant_account.split(":")[1] if merchant_account.count(":") == 2 else ""
        merchant = registry.merchant(mid)
        return merchant.country_info.acquirer if merchant else UNKNOWN_ACQUIRER

    def planner(
        run: str,
        lines: list[ClearingLine],
        posted: list[Transfer],
        accounts: dict[str, LedgerAccount],
    ) -> ClearingPlan:
        plan = plan_clearing(
            run=run,
            day=day,
            lines=lines,
            posted=posted,
            accounts=accounts,
            product_of=product_of,
            acquirer_of=acquirer_of,
        )
        document = json.dumps(report_document(plan), sort_keys=True)
        plan.rows.append((_STORE_REPORT, (run, day.isoformat(), document)))
        return plan

    return await ledger.settle(day, planner)


_STORE_REPORT = "INSERT INTO settlement_reports (run, business_day, document) VALUES (?, ?, ?)"


def report_document(plan: ClearingPlan) -> dict[str, Any]:
    """The JSON settlement report of ``plan``: the run, the day's totals per currency and the
    net positions (minor units; + receives, - pays), which sum to zero per currency."""
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


async def stored_reports(ledger: AnyLedger, day: date) -> list[dict[str, Any]]:
    """The report documents of ``day``'s settlement runs, in run order."""
    rows = await ledger.settlement_reports(day)
    return [dict(json.loads(document)) for (document,) in rows]
