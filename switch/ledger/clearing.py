"""Day's-end clearing and settlement (pure): what one settlement run posts and who owes whom.

A run for business day D posts every purchase and refund hold of D still pending, takes in
the completions and late-reversal corrections not yet settled, charges each merchant its
discount on the day's sales (merchant → acquirer) and makes the acquirer pay each issuer its
interchange (acquirer → issuer). A participant's net position is what its accounts gained in
the run (issuers own their cardholders' accounts); by double entry the positions of a currency
sum to zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from cards.models import CardProduct
from switch.ledger.rules import (
    LedgerAccount,
    Phase,
    Transfer,
    TransferKind,
    acquirer_account,
    issuer_account_id,
)

__all__ = ["ClearingPlan", "CurrencyTotals", "basis_points", "plan_clearing"]


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


@dataclass
class ClearingPlan:
    """The transfers a run makes, every transfer it settles, and the net positions."""

    run: str
    day: date
    transfers: list[Transfer] = field(default_factory=list)
    settled: list[Transfer] = field(default_factory=list)
    accounts: list[LedgerAccount] = field(default_factory=list)
    positions: dict[tuple[str, str], int] = field(default_factory=dict)
    """(participant, currency) → minor units received (+) or paid (−)."""
    totals: dict[str, CurrencyTotals] = field(default_factory=dict)


def _clearing_post(hold: Transfer, run: str) -> Transfer:
    return Transfer(
        id=f"clearing:{hold.id}",
        kind=TransferKind.CLEARING,
        phase=Phase.POST,
        debit_account=hold.debit_account,
        credit_account=hold.credit_account,
        amount=hold.amount,
        currency=hold.currency,
        pending_id=hold.id,
        card_id=hold.card_id,
        tid=hold.tid,
        stan=hold.stan,
        transmission_time=hold.transmission_time,
        issuer_day=hold.issuer_day,
        business_day=hold.business_day,
        rrn=hold.rrn,
    )


def plan_clearing(
    *,
    run: str,
    day: date,
    holds: Iterable[Transfer],
    posted: Iterable[Transfer],
    accounts: dict[str, LedgerAccount],
    product_of: Callable[[str], CardProduct | None],
    acquirer_of: Callable[[str], str],
) -> ClearingPlan:
    """The run ``run`` for business ``day``: clear the purchase and refund ``holds`` still
    pending, settle the already ``posted`` completions and corrections, charge the fees.

    ``product_of`` maps a card id to its product (fees, issuer); ``acquirer_of`` maps a merchant
    account id to the acquirer that signed the merchant.
    """
    plan = ClearingPlan(run, day)
    sales: dict[tuple[str, str], int] = defaultdict(int)  # (merchant account, card id) → amount
    for hold in holds:
        post = _clearing_post(hold, run)
        plan.transfers.append(post)
        plan.settled.append(post)
    plan.settled += list(posted)
    for transfer in plan.settled:
        totals = plan.totals.setdefault(transfer.currency, CurrencyTotals())
        if transfer.kind is TransferKind.REVERSAL:
            totals.corrections += 1
            totals.corrections_amount += transfer.amount
        elif transfer.pending_id and transfer.pending_id.startswith(TransferKind.REFUND.value):
            totals.refunds += 1
            totals.refunds_amount += transfer.amount
        else:
            totals.sales += 1
            totals.sales_amount += transfer.amount
            sales[(transfer.credit_account, transfer.card_id or "")] += transfer.amount
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
    plan.settled += [t for t in plan.transfers if t.phase is Phase.SINGLE]
    positions: dict[tuple[str, str], int] = defaultdict(int)
    for transfer in plan.settled:
        positions[(known[transfer.debit_account].participant, transfer.currency)] -= transfer.amount
        positions[(known[transfer.credit_account].participant, transfer.currency)] += (
            transfer.amount
        )
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
