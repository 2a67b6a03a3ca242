"""The ledger as a trainer shows it: every account's balance, and each participant's net
position for the day's settlement (what it is owed, or owes), which sum to zero per currency —
double entry, visible. Pure: it is given the accounts and their counters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from cards.currency import format_money as _money
from switch.ledger.rules import LedgerAccount
from switch.ledger.twophase import Balances

__all__ = ["ledger_view"]


def ledger_view(accounts: Iterable[tuple[LedgerAccount, Balances]]) -> dict[str, Any]:
    """Accounts (posted balance, held, available; minor units and as text) and positions by
    participant and currency: posted credits - posted debits, and what holds will move."""
    rows: list[dict[str, Any]] = []
    positions: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for account, balances in accounts:
        posted = balances.credits_posted - balances.debits_posted
        held = balances.debits_pending - balances.credits_pending
        rows.append({
            "id": account.id, "kind": account.kind.value, "participant": account.participant,
            "currency": account.currency, "posted_minor": posted, "held_minor": held,
            "posted": _money(posted, account.currency), "held": _money(held, account.currency),
        })  # fmt: skip
        position = positions[account.participant, account.currency]
        position[0] += posted
        position[1] += held
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (_, code), (posted, held) in positions.items():
        totals[code][0] += posted
        totals[code][1] += held
    return {
        "accounts": rows,
        "positions": [
            {
                "participant": who,
                "currency": code,
                "net_minor": net,
                "held_minor": held,
                "net": _money(net, code),
                "held": _money(held, code),
            }
            for (who, code), (net, held) in sorted(positions.items())
        ],
        "totals": [
            {"currency": code, "net_minor": net, "held_minor": held, "balanced": net == held == 0}
            for code, (net, held) in sorted(totals.items())
        ],
    }
