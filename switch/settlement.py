"""Settle a business day on a ledger: the thin shell around :mod:`switch.ledger.clearing`.

Looks up each card's product (fees, issuer) in the card set and each merchant's acquirer in the
registry, and lets the ledger run the plan in one transaction.
"""

from __future__ import annotations

from datetime import date

from cards.catalog import CardSet
from cards.models import CardProduct
from switch.ledger.clearing import ClearingLine, ClearingPlan, plan_clearing
from switch.ledger.rules import LedgerAccount, Transfer
from switch.ledger.where import AnyLedger
from switch.registry import Registry

__all__ = ["settle_day"]

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
        return plan_clearing(
            run=run,
            day=day,
            lines=lines,
            posted=posted,
            accounts=accounts,
            product_of=product_of,
            acquirer_of=acquirer_of,
        )

    return await ledger.settle(day, planner)
