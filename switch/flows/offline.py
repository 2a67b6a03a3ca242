"""Offline approvals (EMV, under a terminal's floor limit) reported in 0220 advices.

A terminal that could not reach the switch may approve a small chip sale itself; once back online
it uploads an 0220 advice (no DE90, DE39 ``Y3``). The sale has happened: the switch posts it as a
purchase hold, cleared at day's end like any other. When the cardholder's account no longer holds
the amount, the issuer carries the shortfall, exactly as for a stand-in approval
(``switch.ledger.standin``): the hold goes on the issuer's stand-in account and is trued up at once.
A card unknown to the issuer is answered 14 and nothing is posted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from cards.catalog import CardSet
from cards.fx import FxRates, default_fx_rates
from switch.flows.standin import sale_hold
from switch.ledger.postings import MIDNIGHT
from switch.ledger.rules import LedgerAccount, Transfer, TransferKind
from switch.ledger.standin import StandInAdvice
from switch.ledger.where import AnyLedger
from switch.responses import retrieval_reference
from wire.protocol.messages import CompletionResponse, OfflineAdvice
from wire.protocol.responses import echo
from wire.registry import Registry

__all__ = ["OfflinePosting", "post_offline"]


@dataclass
class OfflinePosting:
    """What an offline advice makes: the 0230, the hold, the accounts it needs, and (when the
    cardholder lacks the money) the stand-in advice to true up once committed."""

    response: CompletionResponse
    transfers: list[Transfer] = field(default_factory=list)
    accounts: list[LedgerAccount] = field(default_factory=list)
    rows: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    shortfall: StandInAdvice | None = None


async def post_offline(
    ledger: AnyLedger,
    advice: OfflineAdvice,
    *,
    cards: CardSet,
    registry: Registry,
    now: datetime,
    cutoff: time = MIDNIGHT,
    fx: FxRates | None = None,
) -> OfflinePosting:
    """Decide what the offline sale in ``advice`` posts (nothing is written here). A card of
    another currency than the terminal's pays at ``fx``'s rate (default: the shipped table),
    in two legs through the exchange desk, as online."""
    terminal = registry.get(advice.terminal_id)
    card = cards.issuer_card(advice.pan)
    rrn = retrieval_reference(now, advice.stan)

    def answer(code: str, note: str | None) -> CompletionResponse:
        return CompletionResponse(**echo(advice), rrn=rrn, response_code=code,
                                  additional_response=note)  # fmt: skip

    if terminal is None:
        return OfflinePosting(answer("03", "unknown terminal"))
    if card is None:
        return OfflinePosting(answer("14", "card not on file"))
    amount, paid = advice.amount, None
    account_currency, tx_currency = cards.accounts[card.account].currency, terminal.currency.code
    if account_currency != tx_currency:
        try:
            amount = (fx or default_fx_rates()).convert(amount, tx_currency, account_currency)
        except KeyError:
            return OfflinePosting(answer("12", "no exchange rate"))
        paid = advice.amount, tx_currency
    held = sale_hold(
        TransferKind.PURCHASE,
        key=advice.key,
        card=card,
        cards=cards,
        merchant_id=advice.merchant_id,
        amount=amount,
        rrn=rrn,
        now=now,
        timezone=terminal.merchant.country_info.timezone,
        cutoff=cutoff,
        on_standin=await ledger.available(card.account) < amount,
        paid=paid,
    )
    return OfflinePosting(
        answer("00", "offline sale posted"),
        transfers=held.transfers,
        accounts=held.accounts,
        rows=held.rows(now),
        shortfall=held.advice,
    )
