"""QR payments in the style of Algérie Poste's BaridiPay: a holder's wallet app scans the code a
terminal shows (cards.qr), confirms with its one-time code, and the switch moves the money from
the holder's account to the merchant's at once, within the product's QR limits (Edahabia:
100 DA minimum, 500 000 DA a day).

Checks, first failure decides: the code (30 unreadable), the merchant and terminal it names
(03), its currency (13), the amount (13: missing for a static code, another for a dynamic one),
the card (14 unknown, 57 without QR payments or in another currency, 41/43/62/75/54 as for any
payment), the one-time code (55), the limits (13 below the minimum, 61 over a payment's maximum
or the day's cap), then the balance (51, from the ledger itself). Every answer is stored under
the app's reference: the same reference again gets it again, once paid, paid once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, time

from pydantic import ValidationError

from cards.catalog import CardSet
from cards.currency import currency_by_numeric
from cards.masking import mask_pan
from cards.models import Channel
from cards.qr import MerchantQr, QrError, decode_qr
from switch.ledger.checker.check import QR_MTI
from switch.ledger.errors import InsufficientFundsError, LedgerUnavailableError
from switch.ledger.postings import business_day, qr_payment
from switch.ledger.rules import merchant_account
from switch.ledger.where import AnyLedger
from switch.responses import retrieval_reference
from switch.rules.authorization import card_standing, issuer_day
from switch.security import SecurityModule
from wire.clock import Clock
from wire.protocol.wallet import QrPaymentRequest, QrPaymentResult
from wire.registry import Registry, TerminalProfile

__all__ = ["QrDesk"]

log = logging.getLogger("switch.qr")


class _RefusedError(Exception):
    """The payment is refused with ISO 8583 ``code`` for ``reason``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True, slots=True)
class _Payment:
    """A payment being decided: what was asked, the code it pays, when, under which key."""

    request: QrPaymentRequest
    qr: MerchantQr
    terminal: TerminalProfile
    amount: int
    now: datetime
    key: tuple[str, int, str]
    digest: str


class QrDesk:
    """Where the switch sends wallet payments."""

    def __init__(
        self,
        *,
        ledger: AnyLedger,
        cards: CardSet,
        registry: Registry,
        clock: Clock,
        security: SecurityModule,
        cutoff: time,
    ) -> None:
        self.ledger, self.cards, self.registry = ledger, cards, registry
        self.clock, self.security, self.cutoff = clock, security, cutoff

    async def pay_payload(self, wallet: str, payload: bytes) -> QrPaymentResult:
        """:meth:`pay` for the JSON ``payload`` from ``wallet``'s topic: 30 when it cannot be
        read or names another wallet, 96 when the ledger is unavailable."""
        try:
            request = QrPaymentRequest.model_validate_json(payload)
        except ValidationError as error:
            first = error.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "payload"
            log.warning("unreadable QR payment from wallet %s: %s: %s", wallet, where,
                        first["msg"])  # fmt: skip
            return QrPaymentResult.refused(wallet, "", "30", f"format error: {where}")
        if request.wallet != wallet:
            return QrPaymentResult.refused(wallet, request.reference, "30", "wallet differs")
        try:
            return await self.pay(request)
        except LedgerUnavailableError as error:
            log.error("%r: the ledger is unavailable (%s); answering 96", request, error)
            return QrPaymentResult.refused(wallet, request.reference, "96", "system malfunction")

    async def pay(self, request: QrPaymentRequest) -> QrPaymentResult:
        """Decide and record ``request``; its result (the stored one for a repeat)."""
        key = (request.wallet, 0, request.reference)
        digest = hashlib.sha256(request.model_dump_json(exclude={"otp", "sent_at"}).encode())
        stored = await self.ledger.stored_request(key)
        if stored is not None:
            if stored.digest == digest.hexdigest():
                return QrPaymentResult.model_validate_json(stored.response)
            return _result(request, "94", "reference reused")
        now = self.clock.now()
        qr: MerchantQr | None = None
        terminal: TerminalProfile | None = None
        try:
            qr, terminal = self._merchant(request)
            amount = self._amount(request, qr)
            payment = _Payment(request, qr, terminal, amount, now, key, digest.hexdigest())
            result = await self._pay(payment)
        except _RefusedError as refusal:
            result = _result(request, refusal.code, refusal.reason, qr=qr, terminal=terminal)
            await self.ledger.record(key, mti=QR_MTI, digest=digest.hexdigest(),
                                     response_code=result.response_code,
                                     response=result.model_dump_json().encode())  # fmt: skip
        log.info("%r → %s (%s)", request, result.response_code, result.reason)
        return result

    def _merchant(self, request: QrPaymentRequest) -> tuple[MerchantQr, TerminalProfile]:
        try:
            qr = decode_qr(request.qr)
        except QrError as error:
            raise _RefusedError("30", f"QR code: {error}"[:60]) from None
        terminal = self.registry.get(qr.tid)
        if terminal is None or terminal.merchant.mid != qr.mid:
            raise _RefusedError("03", "unknown merchant")
        if qr.currency != terminal.currency.numeric:
            raise _RefusedError("13", "not the merchant's currency")
        return qr, terminal

    @staticmethod
    def _amount(request: QrPaymentRequest, qr: MerchantQr) -> int:
        if qr.amount is None:
            if request.amount is None:
                raise _RefusedError("13", "amount missing (static code)")
            return request.amount
        if request.amount not in (None, qr.amount):
            raise _RefusedError("13", "amount differs from the code")
        return qr.amount

    async def _pay(self, payment: _Payment) -> QrPaymentResult:
        request, terminal, amount, now = (
            payment.request,
            payment.terminal,
            payment.amount,
            payment.now,
        )
        card = self.cards.issuer_card(request.pan)
        if card is None:
            raise _RefusedError("14", "card not on file")
        product = self.cards.products[card.product]
        account = self.cards.accounts[card.account]
        if Channel.QR not in self.cards.channels(card):
            raise _RefusedError("57", "QR payments not enabled")
        if account.currency != terminal.currency.code:
            raise _RefusedError("57", "foreign currency")
        standing = card_standing(card, product, now)
        if standing is not None:
            raise _RefusedError(*standing)
        if (await self.ledger.card_state(card.id)).blocked:
            raise _RefusedError("62", "blocked by issuer")
        code_ok = self.security.verify_wallet_code(
            issuer=product.issuer, pan=request.pan, code=request.otp, at_s=now.timestamp()
        )
        if not code_ok:
            raise _RefusedError("55", "wrong one-time code")
        limits = self.cards.limits(card, Channel.QR)
        if limits is None:
            raise _RefusedError("57", "no QR limits")
        day = issuer_day(product, now)
        if amount < limits.min:
            raise _RefusedError("13", "below minimum amount")
        if amount > limits.per_transaction:
            raise _RefusedError("61", "over per-payment limit")
        if await self.ledger.qr_spent_on_day(card.id, day) + amount > limits.daily:
            raise _RefusedError("61", "over daily QR cap")
        rrn = retrieval_reference(now, int(payment.digest[:8], 16) % 1_000_000)
        result = _result(request, "00", "paid", qr=payment.qr, terminal=terminal, amount=amount,
                         rrn=rrn, at=now)  # fmt: skip
        merchant = merchant_account(terminal.merchant.mid, terminal.currency.code)
        posting = qr_payment(
            key=payment.key, card_id=card.id, cardholder_account=card.account,
            merchant_account=merchant.id, amount=amount, currency=account.currency,
            issuer_day=day, business_day=business_day(terminal.country.timezone, now, self.cutoff),
            rrn=rrn,
        )  # fmt: skip
        try:
            await self.ledger.record(payment.key, mti=QR_MTI, digest=payment.digest,
                                     response_code="00",
                                     response=result.model_dump_json().encode(),
                                     transfers=[posting], accounts=[merchant])  # fmt: skip
        except InsufficientFundsError:
            raise _RefusedError("51", "insufficient funds") from None
        return result


def _result(
    request: QrPaymentRequest,
    code: str,
    reason: str,
    *,
    qr: MerchantQr | None = None,
    terminal: TerminalProfile | None = None,
    amount: int | None = None,
    rrn: str | None = None,
    at: datetime | None = None,
) -> QrPaymentResult:
    cur = currency_by_numeric(qr.currency) if qr else None
    return QrPaymentResult(
        wallet=request.wallet,
        reference=request.reference,
        response_code=code,
        reason=reason,
        amount=amount if amount is not None else (qr.amount if qr else request.amount),
        currency=cur.code if cur else None,
        tid=qr.tid if qr else None,
        merchant=terminal.merchant.name if terminal else None,
        qr_reference=qr.reference if qr and qr.reference else None,
        masked_pan=mask_pan(request.pan),
        rrn=rrn,
        at=at,
    )
