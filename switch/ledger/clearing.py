"""Day's-end clearing and settlement (pure): what one settlement run posts and who owes whom.

A run for business day D posts every purchase and refund hold of D still pending (in bulk:
the store inserts the posts in one statement and moves the account counters per account, so
the plan works on :class:`ClearingLine` aggregates, not on a million transfers), takes in
the completions and late-reversal corrections not yet settled, charges each merchant its
discount on the day's sales (merchant → acquirer) and makes the acquirer pay each issuer its
interchange (acquirer → issuer). A payment abroad clears both its legs (cardholder → exchange
desk, desk → merchant): the merchant's is its sale, in its currency; no interchange goes to an
issuer with no account in that currency. A participant's net position is what its accounts gained in
the run (issuers own their cardholders' accounts); by double entry the positions of a currency
sum to zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cards.models import CardProduct
from switch.ledger.rules import (
    AccountKind,
    LedgerAccount,
    Phase,
    Transfer,
    TransferKind,
    acquirer_account,
    issuer_account_id,
)

__all__ = [
    "ClearingLine",
    "ClearingPlan",
    "CurrencyTotals",
    "Planner",
    "basis_points",
    "plan_clearing",
]


def basis_points(amount: int, bps: int) -> int:
    """``bps`` hundredths of a percent of ``amount`` minor units, rounded half up."""
    return (amount * bps + 5_000) // 10_000


@dataclass
class CurrencyTotals:
    """What a run settled in one currency (minor units)."""

    sales: int = 0
    sales_amount: int = 0
    refunds: int = 0
    refunds_amount: int = 0
    corrections: int = 0
    corrections_amount: int = 0
    merchant_fees: int = 0
    interchange: int = 0
    abroad: int = 0
    abroad_amount: int = 0
    """Cardholders' side of payments abroad (cardholder → exchange desk, in the card's
    currency); the merchant's side counts among the sales of the merchant's currency."""


@dataclass(frozen=True, slots=True)
class ClearingLine:
    """The day's pending holds between two accounts for one card, cleared together."""

    debit_account: str
    credit_account: str
    card_id: str
    kind: TransferKind
    """``purchase``, ``refund``, or ``fx`` (the merchant's leg of a purchase abroad)."""
    currency: str
    count: int
    amount: int

    @property
    def refund(self) -> bool:
        return self.kind is TransferKind.REFUND


@dataclass
class ClearingPlan:
    """What a run does besides the bulk clearing posts: the fee transfers it makes, the
    transfers it settles individually (completions, corrections, fees), the net positions."""

    run: str
    day: date
    transfers: list[Transfer] = field(default_factory=list)
    settled: list[Transfer] = field(default_factory=list)
    accounts: list[LedgerAccount] = field(default_factory=list)
    positions: dict[tuple[str, str], int] = field(default_factory=dict)
    """(participant, currency) → minor units received (+) or paid (−)."""
    lines: list[ClearingLine] = field(default_factory=list)
    totals: dict[str, CurrencyTotals] = field(default_factory=dict)
    rows: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    """Further (SQL, parameters) inserts the run stores with it (its report)."""


def _count(
    plan: ClearingPlan,
    lines: list[ClearingLine],
    posted: list[Transfer],
    accounts: dict[str, LedgerAccount],
) -> dict[tuple[str, str], int]:
    """Fill ``plan.totals``; the day's sales by (merchant account, card id), the fee base."""
    sales: dict[tuple[str, str], int] = defaultdict(int)  # (merchant account, card id) → amount
    for line in lines:
        totals = plan.totals.setdefault(line.currency, CurrencyTotals())
        if line.refund:
            totals.refunds += line.count
            totals.refunds_amount += line.amount
        elif accounts[line.credit_account].kind is AccountKind.FX:
            totals.abroad += line.count
            totals.abroad_amount += line.amount
        else:
            totals.sales += line.count
            totals.sales_amount += line.amount
            sales[(line.credit_account, line.card_id)] += line.amount
    for transfer in posted:
        totals = plan.totals.setdefault(transfer.currency, CurrencyTotals())
        if transfer.kind is TransferKind.REVERSAL:
            totals.corrections += 1
            totals.corrections_amount += transfer.amount
        else:
            totals.sales += 1
            totals.sales_amount += transfer.amount
            sales[(transfer.credit_account, transfer.card_id or "")] += transfer.amount
    return sales


def plan_clearing(
    *,
    run: str,
    day: date,
    lines: Iterable[ClearingLine],
    posted: Iterable[Transfer],
    accounts: dict[str, LedgerAccount],
    product_of: Callable[[str], CardProduct | None],
    acquirer_of: Callable[[str], str],
) -> ClearingPlan:
    """The run ``run`` for business ``day``: clear the pending purchase and refund holds
    summed up in ``lines``, settle the already ``posted`` completions and corrections, charge
    the fees.

    ``product_of`` maps a card id to its product (fees, issuer); ``acquirer_of`` maps a merchant
    account id to the acquirer that signed the merchant.
    """
    plan = ClearingPlan(run, day)
    lines, posted = list(lines), list(posted)
    plan.lines = lines
    plan.settled = posted
    sales = _count(plan, lines, posted, accounts)
    fees: dict[tuple[str, str], int] = defaultdict(int)  # (merchant account, acquirer acct)
    interchange: dict[tuple[str, str], int] = defaultdict(int)  # (acquirer acct, issuer acct)
    made: dict[str, LedgerAccount] = {}
    for (merchant, card_id), amount in sorted(sales.items()):
        product = product_of(card_id)
        if product is None:
            continue
        currency = accounts[merchant].currency
        acquirer = acquirer_account(acquirer_of(merchant), currency)
        made.setdefault(acquirer.id, acquirer)
        fees[(merchant, acquirer.id)] += basis_points(amount, product.fees.merchant_discount_bps)
        issuer = issuer_account_id(product.issuer, currency)
        interchange[(acquirer.id, issuer)] += basis_points(amount, product.fees.interchange_bps)
    plan.accounts = list(made.values())
    known = {**accounts, **made}
    for (merchant, acquirer_id), amount in sorted(fees.items()):
        if amount > 0:
            plan.transfers.append(
                _fee(
                    TransferKind.FEE,
                    run,
                    debit=merchant,
                    credit=acquirer_id,
                    amount=amount,
                    accounts=known,
                    day=day,
                )
            )
            plan.totals[known[merchant].currency].merchant_fees += amount
    for (acquirer_id, issuer), amount in sorted(interchange.items()):
        if amount > 0 and issuer in known:
            plan.transfers.append(
                _fee(
                    TransferKind.INTERCHANGE,
                    run,
                    debit=acquirer_id,
                    credit=issuer,
                    amount=amount,
                    accounts=known,
                    day=day,
                )
            )
            plan.totals[known[issuer].currency].interchange += amount
    plan.settled += plan.transfers
    positions: dict[tuple[str, str], int] = defaultdict(int)
    moves = [(t.debit_account, t.credit_account, t.currency, t.amount) for t in plan.settled]
    moves += [(x.debit_account, x.credit_account, x.currency, x.amount) for x in lines]
    for debit, credit, currency, amount in moves:
        positions[(known[debit].participant, currency)] -= amount
        positions[(known[credit].participant, currency)] += amount
    plan.positions = dict(sorted(positions.items()))
    return plan


def _fee(
    kind: TransferKind,
    run: str,
    *,
    debit: str,
    credit: str,
    amount: int,
    accounts: dict[str, LedgerAccount],
    day: date,
) -> Transfer:
    return Transfer(
        id=f"{kind.value}:{run}:{debit}:{credit}",
        kind=kind,
        phase=Phase.SINGLE,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        currency=accounts[debit].currency,
        business_day=day,
    )


Planner = Callable[
    [str, list[ClearingLine], list[Transfer], dict[str, LedgerAccount]], ClearingPlan
]
"""Decides a settlement run: (run, lines, posted, accounts) → plan."""
