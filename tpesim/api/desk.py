"""What the merchant API does with a terminal: start a payment (with cash-back), refund or void
it, complete or cancel a pre-authorization, ask a card's balance, close the batch. Every payment
is kept by id and by the caller's idempotency key; input is checked here, before anything
reaches a terminal or the switch."""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from cards.catalog import CardSet
from cards.holders import holder_pin
from cards.models import Card
from terminal.builder import CardPresentation
from terminal.records import NotLastSaleError, TerminalError, TransactionOutcome
from terminal.shell.tpe import Terminal
from tpesim.api.models import (
    BalanceInquiry,
    BalanceInquiryRequest,
    BatchResult,
    CompletionRequest,
    Payment,
    PaymentRequest,
    RefundRequest,
    TerminalInfo,
    payment_status,
)
from tpesim.wallet import Wallet
from wire.protocol.codes import describe
from wire.protocol.messages import OriginalDataElements

__all__ = ["ApiError", "PaymentDesk"]

T = TypeVar("T")


class ApiError(Exception):
    """A request the API refuses: HTTP ``status``, a short ``title``, the ``detail``, and the
    request ``field`` at fault."""

    def __init__(self, status: int, title: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field = status, title, detail, field


@dataclass
class _Record:
    payment: Payment
    fingerprint: str


class PaymentDesk:
    """Payments on a set of connected terminals, by id and by idempotency key."""

    def __init__(self, terminals: dict[str, Terminal], cards: CardSet, wallet: Wallet) -> None:
        self.terminals = terminals
        self.cards = cards
        self.wallet = wallet
        self._payments: dict[str, Payment] = {}
        self._by_key: dict[tuple[str, str], _Record] = {}
        self._card_ids: dict[str, str] = {}
        self._mtis: dict[str, str] = {}
        """The MTI each payment went out as, when not 0200 (a pre-authorization's 0100)."""
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        """One lock per idempotency key and per payment: two requests under one key, or two
        actions on one payment (refund and void, completion and cancel), run one after the
        other, the second seeing what the first did."""

    def terminal_list(self) -> list[TerminalInfo]:
        return [
            TerminalInfo(
                id=tid,
                merchant=tpe.profile.merchant.name,
                city=tpe.profile.merchant.city,
                currency=tpe.profile.currency.code,
                currency_decimals=tpe.profile.currency.exponent,
                connected=tpe.connected,
            )
            for tid, tpe in sorted(self.terminals.items())
        ]

    def payment(self, payment_id: str) -> Payment:
        found = self._payments.get(payment_id)
        if found is None:
            raise ApiError(404, "no such payment", f"no payment {payment_id!r}")
        return found

    def _terminal(self, tid: str) -> Terminal:
        tpe = self.terminals.get(tid)
        if tpe is None:
            raise ApiError(404, "no such terminal", f"no terminal {tid!r} is driven by this API")
        return tpe

    def _card(self, request: PaymentRequest) -> Card:
        if request.card_id is not None:
            try:
                return self.cards.card(request.card_id)
            except KeyError:
                raise ApiError(422, "unknown card", f"no test card {request.card_id!r}",
                               "card_id") from None  # fmt: skip
        for card in self.cards.cards:
            if card.pan == request.pan:
                return card
        raise ApiError(422, "unknown card", "no test card has this PAN", "pan")

    def _replayed(self, tid: str, key: str, fingerprint: str) -> Payment | None:
        """The payment already made under ``key`` (same request), or None; 409 when the key
        was used for a different request."""
        record = self._by_key.get((tid, key))
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise ApiError(409, "idempotency key reused",
                           "this idempotency_key was used for a different request",
                           "idempotency_key")  # fmt: skip
        return self._payments.get(record.payment.id, record.payment)  # as it stands now

    async def pay(self, tid: str, request: PaymentRequest) -> tuple[Payment, bool]:
        """Run the payment (or find it again by its key); (the payment, whether it is new)."""
        async with self._locks[f"key {tid} {request.idempotency_key}"]:
            return await self._pay(tid, request)

    async def _pay(self, tid: str, request: PaymentRequest) -> tuple[Payment, bool]:
        tpe = self._terminal(tid)
        fingerprint = _fingerprint(request.model_dump_json())
        replay = self._replayed(tid, request.idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
        if request.currency != tpe.profile.currency.code:
            raise ApiError(422, "wrong currency", f"terminal {tid} takes "
                           f"{tpe.profile.currency.code}, not {request.currency}",
                           "currency")  # fmt: skip
        card = self._card(request)
        kind = "preauth" if request.preauth else "purchase"
        outcome = await self._run(tpe, card, request.amount_minor, request.pin, request.entry,
                                  preauth=request.preauth,
                                  cash_back=request.cash_back_minor or 0)  # fmt: skip
        payment = self._keep(outcome, kind)
        if request.preauth:
            self._mtis[payment.id] = "0100"
        self._by_key[tid, request.idempotency_key] = _Record(payment, fingerprint)
        return payment, True

    async def refund(self, payment_id: str, request: RefundRequest) -> tuple[Payment, bool]:
        """Refund an approved purchase, in full or in part (its goods: not the cash of a
        cash-back): the 0200 names the sale (DE90), and the switch approves at most what the
        sale has left after earlier refunds (13 past it)."""
        tid = self.payment(payment_id).terminal_id
        async with (
            self._locks[f"key {tid} {request.idempotency_key}"],
            self._locks[f"payment {payment_id}"],
        ):
            return await self._refund(payment_id, request)

    async def _refund(self, payment_id: str, request: RefundRequest) -> tuple[Payment, bool]:
        original = self.payment(payment_id)
        fingerprint = _fingerprint(f"refund {payment_id} {request.model_dump_json()}")
        replay = self._replayed(original.terminal_id, request.idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
        if original.kind != "purchase" or original.status != "approved":
            raise ApiError(409, "not refundable", "only an approved purchase can be refunded")
        goods = original.amount_minor - (original.cash_back_minor or 0)
        amount = request.amount_minor or goods
        if amount > goods:
            raise ApiError(422, "amount too large", "more than the payment (its goods: a "
                           "cash-back's cash is not refunded)", "amount_minor")  # fmt: skip
        tpe = self._terminal(original.terminal_id)
        card = self._card_of(original)
        stan, moment = _key_of(payment_id)
        sale = OriginalDataElements(mti=self._mtis.get(payment_id, "0200"), stan=stan,
                                    transmission_time=moment)  # fmt: skip
        outcome = await self._run(tpe, card, amount, None, "chip", refund_of=sale)
        payment = self._keep(outcome, "refund", refund_of=payment_id)
        self._by_key[original.terminal_id, request.idempotency_key] = _Record(payment, fingerprint)
        return payment, True

    async def complete(self, payment_id: str, request: CompletionRequest) -> Payment:
        """Complete an approved pre-authorization for at most its amount. Declined (13 above
        the hold), the pre-authorization stays open: the answer shows the decline, the payment
        keeps its hold (to complete for less, or cancel)."""
        async with self._locks[f"payment {payment_id}"]:
            original = self._open_preauth(payment_id)
            tpe = self._terminal(original.terminal_id)
            response = await self._guarded(tpe.complete(original.stan, request.amount_minor))
            code = response.response_code if response else None
            updated = original.model_copy(update={
                "status": payment_status(code), "response_code": code, "meaning": _meaning(code),
                "reason": response.additional_response if response else None,
            })  # fmt: skip
            if code == "00":
                captured = {"kind": "purchase", "amount_minor": request.amount_minor}
                updated = updated.model_copy(update=captured)
            if code is None or code == "00":  # a timeout: the completion waits in the SAF
                self._payments[payment_id] = updated
            return updated

    async def cancel(self, payment_id: str) -> Payment:
        """Cancel an approved pre-authorization: its hold is released (0400)."""
        async with self._locks[f"payment {payment_id}"]:
            original = self._open_preauth(payment_id)
            tpe = self._terminal(original.terminal_id)
            verdict = await self._guarded(tpe.cancel_authorization(original.stan))
            updated = original.model_copy(update={"status": "cancelled", "reversal": verdict})
            self._payments[payment_id] = updated
            return updated

    async def void(self, payment_id: str) -> Payment:
        """Void an approved purchase or refund while it is its terminal's last (the cancel key):
        its reversal goes out, the batch forgets it."""
        async with self._locks[f"payment {payment_id}"]:
            original = self.payment(payment_id)
            tpe = self._terminal(original.terminal_id)
            last = tpe.last_sale
            key = _key_of(payment_id)
            refused = ApiError(409, "not voidable", "only the terminal's last approved purchase "
                               "or refund of its open batch can be voided")  # fmt: skip
            voidable = original.kind in ("purchase", "refund") and original.status == "approved"
            if not voidable or last is None or (last.stan, last.transmission_time) != key:
                raise refused
            try:
                outcome = await tpe.void_last(expected=key)
            except NotLastSaleError:
                raise refused from None  # another sale became the last meanwhile
            except TerminalError as error:
                raise ApiError(503, "terminal unavailable", str(error)) from None
            updated = original.model_copy(update={"status": "cancelled",
                                                  "reversal": outcome.reversal,
                                                  "receipt": outcome.receipt})  # fmt: skip
            self._payments[payment_id] = updated
            return updated

    async def balance_inquiry(self, tid: str, request: BalanceInquiryRequest) -> BalanceInquiry:
        """Ask a test card's balance at terminal ``tid`` (nothing is charged)."""
        tpe = self._terminal(tid)
        try:
            card = self.cards.card(request.card_id)
        except KeyError:
            raise ApiError(422, "unknown card", f"no test card {request.card_id}",
                           "card_id") from None  # fmt: skip
        outcome = await self._run(tpe, card, 0, request.pin, "chip", inquiry=True)
        return BalanceInquiry(
            terminal_id=tid,
            response_code=outcome.response_code,
            meaning=_meaning(outcome.response_code),
            available_minor=outcome.balance,
            currency=outcome.card_currency or outcome.currency,
            masked_pan=outcome.masked_pan,
            receipt=outcome.receipt,
        )

    async def close_batch(self, tid: str) -> BatchResult:
        tpe = self._terminal(tid)
        batch = await self._guarded(tpe.close_batch())
        return BatchResult(
            terminal_id=tid,
            batch_number=batch.batch_number,
            response_code=batch.response_code,
            in_balance=batch.response_code == "00",
            sales=batch.sales or 0,
            sales_amount_minor=batch.sales_amount or 0,
            refunds=batch.refunds or 0,
            refunds_amount_minor=batch.refunds_amount or 0,
            differences=list(batch.differences or ()),
        )

    def _open_preauth(self, payment_id: str) -> Payment:
        original = self.payment(payment_id)
        if original.kind != "preauth" or original.status != "approved":
            raise ApiError(409, "not an open pre-authorization",
                           "only an approved, open pre-authorization can be completed or "
                           "cancelled")  # fmt: skip
        return original

    def _card_of(self, payment: Payment) -> Card:
        found = self._card_ids.get(payment.id)
        if found is None:
            raise ApiError(409, "card unknown", "the payment's card is not a test card")
        return self.cards.card(found)

    async def _run(
        self,
        tpe: Terminal,
        card: Card,
        amount: int,
        pin: str | None,
        entry: str,
        *,
        preauth: bool = False,
        refund_of: OriginalDataElements | None = None,
        cash_back: int = 0,
        inquiry: bool = False,
    ) -> TransactionOutcome:
        presentation = CardPresentation.from_card(card, self.cards)
        return await self._guarded(
            tpe.purchase(
                presentation,
                amount,
                pin=pin or holder_pin(card.id),
                chip=self.wallet.chip(card.id),
                entry=entry,
                plastic=self.wallet.plastic(card.id),
                preauth=preauth,
                refund=refund_of is not None,
                refund_of=refund_of,
                cash_back=cash_back,
                inquiry=inquiry,
            )
        )

    @staticmethod
    async def _guarded(action: Awaitable[T]) -> T:
        """``action``, with a terminal that cannot work reported as 503."""
        try:
            return await action
        except TerminalError as error:
            raise ApiError(503, "terminal unavailable", str(error)) from None

    def _keep(
        self, outcome: TransactionOutcome, kind: str, refund_of: str | None = None
    ) -> Payment:
        code = outcome.response_code
        status = payment_status(code)
        payment_id = base = f"{outcome.tid}-{outcome.stan:06d}-{outcome.transmission_time}"
        occurrence = 1
        while payment_id in self._payments:  # a terminal that reused a STAN and DE7 (a fault)
            occurrence += 1
            payment_id = f"{base}-{occurrence}"
        payment = Payment(
            id=payment_id,
            terminal_id=outcome.tid,
            kind=kind,
            status=status,
            response_code=code,
            meaning=_meaning(code),
            reason=outcome.reason,
            amount_minor=outcome.amount,
            currency=outcome.currency,
            stan=outcome.stan,
            rrn=outcome.rrn,
            auth_code=outcome.auth_code,
            reversal=outcome.reversal,
            masked_pan=outcome.masked_pan,
            receipt=outcome.receipt,
            refund_of=refund_of,
            billed_minor=outcome.billed,
            billed_currency=outcome.card_currency if outcome.billed is not None else None,
            cash_back_minor=outcome.cash_back or None,
        )
        self._payments[payment.id] = payment
        if outcome.card_id is not None:
            self._card_ids[payment.id] = outcome.card_id
        return payment


def _meaning(code: str | None) -> str:
    return describe(code).en if code else "no answer in time: the terminal reversed the sale"


def _key_of(payment_id: str) -> tuple[int, str]:
    """(STAN, DE7) of a payment id ``{tid}-{stan}-{de7}``, or ``{tid}-{stan}-{de7}-{n}`` for
    the n-th payment a terminal made under one key (its STAN counter slipped)."""
    _, stan, moment = payment_id.split("-")[:3]
    return int(stan), moment


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
