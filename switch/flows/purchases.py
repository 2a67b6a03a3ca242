"""Purchases, pre-authorizations and refunds (0200/0100): decide with the card's issuer, or
stand in for it when it is down or too slow, and commit the hold with the stored answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, time

from cards.catalog import CardSet
from cards.currency import currency, currency_by_numeric
from cards.fx import FxRates, allowance_start, default_fx_rates
from cards.models import Card
from switch.flows.standin import sale_hold, stand_in
from switch.ledger.errors import InsufficientFundsError
from switch.ledger.reads import CardState, PurchaseView
from switch.ledger.rules import TransferKind
from switch.ledger.where import AnyLedger
from switch.responses import approval_code, retrieval_reference
from switch.rules.authorization import CardholderPosition, Decision, authorize, issuer_day
from switch.rules.issuers import IssuerHosts
from switch.rules.kinds import is_balance_inquiry, is_refund
from switch.rules.refunds import RefundOriginal, refund_link, refund_original
from switch.security import SecurityModule
from switch.security.checks import SecurityFacts, inspect_purchase
from wire.clock import Clock
from wire.magic import MagicAmounts
from wire.protocol.amounts import AVAILABLE_BALANCE, AdditionalAmount, format_amounts
from wire.protocol.billing import format_conversion_rate
from wire.protocol.messages import (
    AuthorizationRequest,
    AuthorizationResponse,
    FinancialRequest,
    FinancialResponse,
)
from wire.protocol.responses import echo
from wire.registry import Registry

__all__ = ["Commit", "PurchaseDesk", "hold_kind", "new_card_state"]

log = logging.getLogger("switch")

UNKNOWN_BALANCE = 2**62
"""The balance a stand-in decision assumes (minor units): enough; its rules bound the sale."""
Commit = Callable[..., Awaitable[None]]
"""Stores a response as the answer to its request, with the ledger effects it has."""


class PurchaseDesk:
    """Where the processor sends 0200 and 0100 requests."""

    def __init__(
        self,
        *,
        ledger: AnyLedger,
        cards: CardSet,
        registry: Registry,
        clock: Clock,
        magic: MagicAmounts | None,
        security: SecurityModule,
        cutoff: time,
        issuers: IssuerHosts,
        commit: Commit,
        fx: FxRates | None = None,
    ) -> None:
        """``fx``: the exchange rates of payments abroad (default: cards/data/fx_rates.yaml)."""
        self.ledger = ledger
        self.cards = cards
        self.registry = registry
        self.clock = clock
        self.magic = magic
        self.security = security
        self.cutoff = cutoff
        self.issuers = issuers
        self.commit = commit
        self.fx = fx or default_fx_rates()
        self.issuer_wait: Callable[[float], Awaitable[None]] = asyncio.sleep
        """How the latency of a slow issuer is waited, in seconds (a test holds it instead)."""

    async def _routed(self, request: FinancialRequest, *, wait: bool) -> tuple[bool, str | None]:
        """Route ``request`` to its card's issuer: (the issuer answers, who decides). Who
        decides is ``issuer:{id}``, ``stand-in:{id}`` (the switch stands in for an unavailable
        issuer) or None (no product owns the PAN: the switch refuses). ``wait``: wait as long
        as the issuer takes (a slow issuer, up to the deadline)."""
        product = self.cards.product_for_pan(request.pan)
        if product is None:
            return True, None
        routing = self.issuers.route(product.issuer)
        if wait and routing.wait_s:
            await self.issuer_wait(routing.wait_s)
        decider = "issuer" if routing.available else "stand-in"
        return routing.available, f"{decider}:{product.issuer}"

    def _stand_in(
        self, request: FinancialRequest, decision: Decision, usage: tuple[int, int]
    ) -> Decision:
        card = decision.card
        if card is None:
            return decision
        product = self.cards.products[card.product]
        # The stand-in approves sales only: it knows no balance to give, and holds no refund;
        # nor a payment abroad, whose allowance only the issuer knows.
        sale = hold_kind(request) is TransferKind.PURCHASE and not is_balance_inquiry(request)
        sale = sale and decision.billed is None
        return stand_in(decision, amount=request.amount,
                        rules=product.stand_in if sale else None, usage=usage)  # fmt: skip

    def _abroad(self, request: FinancialRequest, card: Card) -> bool:
        """Whether ``request`` pays in another currency than ``card``'s account's."""
        tx_currency = currency_by_numeric(request.currency)
        account_currency = self.cards.accounts[card.account].currency
        return tx_currency is not None and tx_currency.code != account_currency

    async def _view(self, request: FinancialRequest, now: datetime) -> PurchaseView:
        """What the ledger knows of ``request``'s terminal and card (one read), on the card's
        issuer's day of ``now``; for a payment abroad, what the current period of the card's
        allowance has taken."""
        card = self.cards.issuer_card(request.pan)
        if card is None:
            return await self.ledger.purchase_view(request.key, None, None)
        product = self.cards.products[card.product]
        day = issuer_day(product, now)
        since = None
        if product.fx_allowance is not None and self._abroad(request, card):
            since = allowance_start(product.fx_allowance.period, day)
        return await self.ledger.purchase_view(request.key, (card.id, card.account), day, since)

    async def handle(
        self, request: FinancialRequest
    ) -> tuple[FinancialResponse, Decision, str | None]:
        """Decide ``request`` and commit the decision; the stored 0210, the decision and who
        took it (the route at the moment the request was routed)."""
        now = self.clock.now()
        terminal = self.registry.get(request.terminal_id)
        facts, state = SecurityFacts(), None
        view = await self._view(request, now)
        original = await refund_original(self.ledger, request) if is_refund(request) else None
        issuer_up, route = await self._routed(request, wait=not view.pre_reversed)
        if view.pre_reversed:
            decision = Decision("12", "already reversed")
        else:
            facts = inspect_purchase(self.security, self.cards, request)
            state = view.card_state
            # Standing in, the balance is unknown: taken as enough, the stand-in rules bound it.
            position = None if state is None else CardholderPosition(
                available=view.available if issuer_up else UNKNOWN_BALANCE,
                spent_today=view.spent_today,
                fx_spent=view.fx_spent,
            )  # fmt: skip
            decision = authorize(
                request,
                terminal=terminal,
                signed_on=view.signed_on,
                cards=self.cards,
                position=position,
                now=now,
                magic=self.magic,
                pin=facts.pin,
                pin_failures=state.pin_failures if state else 0,
                blocked=state.blocked if state else False,
                arqc=facts.arqc,
                atc=facts.atc,
                last_atc=state.last_atc if state else None,
                cvv=facts.cvv,
                fx=self.fx,
                refund_original=original,
            )
            if not issuer_up:
                decision = self._stand_in(request, decision, view.standin_usage)
        rrn = retrieval_reference(now, request.stan)
        amounts = self._additional_amounts(request, decision, view.available)
        try:
            response = await self._record_purchase(
                request, decision, rrn=rrn, now=now, facts=facts, state=state, amounts=amounts,
                refunds=original,
            )  # fmt: skip
        except InsufficientFundsError:
            log.error("%r: the ledger refused the debit; declining 51", request)
            decision = replace(decision, code="51", reason="insufficient funds")
            response = await self._record_purchase(
                request, decision, rrn=rrn, now=now, facts=facts, state=state, amounts=None,
                refunds=None,
            )  # fmt: skip
        log.info(
            "%r card %s amount %d → %s (%s)",
            request,
            request.masked_pan,
            request.amount,
            decision.code,
            decision.reason,
        )
        return response, decision, route

    def _additional_amounts(
        self, request: FinancialRequest, decision: Decision, available: int
    ) -> str | None:
        """DE54 of the answer: an approved inquiry's available balance (in the account's
        currency), or the cash of a purchase with cash-back, echoed."""
        if is_balance_inquiry(request):
            if not decision.approved or decision.card is None:
                return None
            account = currency(self.cards.accounts[decision.card.account].currency)
            return format_amounts([AdditionalAmount(AVAILABLE_BALANCE, account.numeric, available)])
        return request.additional_amounts

    def _billing(self, request: FinancialRequest, decision: Decision) -> dict[str, str | int]:
        """DE6, DE10, DE51 of an approved sale abroad: what the card's account is debited, at
        what rate, in what currency (wire.protocol.billing); nothing otherwise."""
        card, billed = decision.card, decision.billed
        tx_currency = currency_by_numeric(request.currency)
        if not decision.approved or card is None or billed is None or tx_currency is None:
            return {}
        if is_balance_inquiry(request):
            return {}
        account = currency(self.cards.accounts[card.account].currency)
        return {
            "billing_amount": billed,
            "conversion_rate": format_conversion_rate(self.fx.rate(tx_currency.code, account.code)),
            "billing_currency": account.numeric,
        }

    def _purchase_response(
        self,
        request: FinancialRequest,
        decision: Decision,
        rrn: str,
        facts: SecurityFacts,
        amounts: str | None,
    ) -> FinancialResponse:
        cls = (
            AuthorizationResponse
            if isinstance(request, AuthorizationRequest)
            else FinancialResponse
        )
        return cls(
            **self._billing(request, decision),
            **echo(request),
            rrn=rrn,
            auth_code=approval_code(request.key, stand_in=decision.stand_in)
            if decision.approved
            else None,
            response_code=decision.code,
            additional_response=("stand-in" if decision.stand_in else None)
            if decision.approved
            else decision.reason[:25],
            merchant_id=request.merchant_id,
            currency=request.currency,
            additional_amounts=amounts,
            icc_data=facts.response_icc(decision.code),
        )

    async def _record_purchase(
        self,
        request: FinancialRequest,
        decision: Decision,
        *,
        rrn: str,
        now: datetime,
        facts: SecurityFacts,
        state: CardState | None,
        amounts: str | None,
        refunds: RefundOriginal | None,
    ) -> FinancialResponse:
        """Commit the decision (the hold of an approval, the card's new security state, which
        sale an approved refund ``refunds``); return the stored 0210. An inquiry holds
        nothing."""
        response = self._purchase_response(request, decision, rrn, facts, amounts)
        transfers, accounts, rows = [], [], []
        terminal = self.registry.get(request.terminal_id)
        holds = decision.approved and not is_balance_inquiry(request)
        if holds and decision.card is not None and terminal is not None:
            billed = decision.billed
            held = sale_hold(
                hold_kind(request),
                key=request.key,
                card=decision.card,
                cards=self.cards,
                merchant_id=request.merchant_id,
                amount=request.amount if billed is None else billed,
                rrn=rrn,
                now=now,
                timezone=terminal.merchant.country_info.timezone,
                cutoff=self.cutoff,
                on_standin=decision.stand_in,  # advice queued with it
                paid=None if billed is None else (request.amount, terminal.currency.code),
            )
            transfers, accounts, rows = held.transfers, held.accounts, held.rows(now)
            if refunds is not None and refunds.hold_id is not None:
                rows = [*rows, refund_link(held.hold.id, refunds.hold_id)]
        await self.commit(
            request,
            response,
            transfers=transfers,
            accounts=accounts,
            card_state=new_card_state(state, decision),
            rows=rows,
        )
        return response


def hold_kind(request: FinancialRequest) -> TransferKind:
    """What an approved 0200 or 0100 holds: a purchase, a refund (DE3 20xxxx) or a
    pre-authorization."""
    if isinstance(request, AuthorizationRequest):
        return TransferKind.PREAUTH
    if is_refund(request):
        return TransferKind.REFUND
    return TransferKind.PURCHASE


def new_card_state(state: CardState | None, decision: Decision) -> CardState | None:
    """The card's security state after ``decision`` (None when nothing changes)."""
    if state is None or (decision.pin_failures is None and decision.atc is None):
        return None
    return CardState(
        state.card_id,
        state.pin_failures if decision.pin_failures is None else decision.pin_failures,
        state.last_atc if decision.atc is None else decision.atc,
        state.blocked,
    )
