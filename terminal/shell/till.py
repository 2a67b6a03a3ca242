"""What a transaction leaves at the till: the receipt and the outcome the caller gets, the
journal line of the open batch, the open pre-authorization, the receipts waiting for paper.
The bookkeeping half of :class:`~terminal.shell.tpe.Terminal`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cards.currency import currency_by_numeric
from terminal.builder import BALANCE_INQUIRY, CardPresentation
from terminal.channel import Channel
from terminal.receipt import ReceiptData, render_receipt
from terminal.records import TerminalError, TransactionOutcome
from wire.clock import Clock
from wire.journal import EntryKind, JournalEntry
from wire.protocol.amounts import AVAILABLE_BALANCE, amount_of
from wire.protocol.amounts import CASH_BACK as CASH_BACK_AMOUNT
from wire.protocol.billing import parse_conversion_rate
from wire.protocol.messages import FinancialRequest, FinancialResponse, Response
from wire.registry import TerminalProfile

__all__ = ["Till"]


class Till:
    """Receipts, journal and paper of :class:`~terminal.shell.tpe.Terminal`."""

    profile: TerminalProfile
    clock: Clock
    channel: Channel
    journal: list[JournalEntry]
    authorizations: dict[int, FinancialRequest]
    last_sale: FinancialRequest | None
    paper: bool
    unprinted: list[str]

    if TYPE_CHECKING:  # provided by another half of Terminal

        @property
        def tid(self) -> str: ...

    def _book(
        self,
        request: FinancialRequest,
        outcome: TransactionOutcome,
        *,
        preauth: bool,
        refund: bool,
    ) -> None:
        """Keep what the sale leaves at the terminal: an open pre-authorization, a journal line
        (sale, refund, or a sale whose reversal is pending), a receipt waiting for paper. A
        balance inquiry moves no money: only its receipt."""
        if request.processing_code == BALANCE_INQUIRY:
            pass
        elif outcome.approved and preauth:
            self.authorizations[request.stan] = request
        elif outcome.approved:
            kind = EntryKind.REFUND if refund else EntryKind.SALE
            self.journal.append(JournalEntry(kind, request.stan, request.amount))
            self.last_sale = request  # what the cancel key voids (:meth:`void_last`)
        elif outcome.reversal == "unresolved" and not preauth and not refund:
            self.journal.append(
                JournalEntry(EntryKind.REVERSAL_PENDING, request.stan, request.amount)
            )
        if not outcome.printed:
            self.unprinted.append(outcome.receipt)

    async def set_paper(self, present: bool) -> None:
        """The printer ran out of paper (``False``) or was refilled: the retained status says
        ``degraded:paper-out`` or ``online``."""
        self.paper = present
        await self.channel.announce(b"online" if present else b"degraded:paper-out")

    def reprint(self) -> list[str]:
        """Print the receipts that waited for paper; they are handed back, oldest first."""
        if not self.paper:
            raise TerminalError(f"{self.tid}: no paper: nothing can be printed")
        waiting, self.unprinted = self.unprinted, []
        return waiting

    def _outcome(
        self,
        request: FinancialRequest,
        card: CardPresentation,
        response: Response | None,
        reversal: str | None,
        latency_ms: float,
    ) -> TransactionOutcome:
        code = rrn = auth = None
        balance = None
        card_currency, billed, rate = None, None, None
        if isinstance(response, FinancialResponse):
            code, rrn, auth = response.response_code, response.rrn, response.auth_code
            given = amount_of(response.additional_amounts, AVAILABLE_BALANCE)
            balance = given.amount if given is not None else None
            held_in = response.billing_currency or (given.currency if given else None)
            if held_in and held_in != self.profile.currency.numeric:  # a card paying abroad
                card_currency = currency_by_numeric(held_in)
            billed = response.billing_amount
            if response.conversion_rate:
                rate = parse_conversion_rate(response.conversion_rate)
        elif response is not None:
            code = response.response_code
        cash = amount_of(request.additional_amounts, CASH_BACK_AMOUNT)
        receipt = render_receipt(
            ReceiptData(
                profile=self.profile,
                moment=self.clock.now(),
                stan=request.stan,
                pan=request.pan,
                card_label=card.label,
                amount=request.amount,
                response_code=code,
                auth_code=auth,
                rrn=rrn,
                reversal_acknowledged=reversal == "acknowledged" if reversal else None,
                processing_code=request.processing_code,
                cash_back=cash.amount if cash is not None else 0,
                balance=balance,
                card_currency=card_currency,
                billed=billed,
                rate=rate,
            )
        )
        return TransactionOutcome(
            tid=self.tid,
            stan=request.stan,
            transmission_time=request.transmission_time,
            card_id=card.card_id,
            masked_pan=card.masked_pan,
            amount=request.amount,
            currency=self.profile.currency.code,
            response_code=code,
            rrn=rrn,
            auth_code=auth,
            reversal=reversal,
            latency_ms=latency_ms,
            receipt=receipt,
            printed=self.paper,
            balance=balance,
            cash_back=cash.amount if cash is not None else 0,
            card_currency=card_currency.code if card_currency else None,
            billed=billed,
            reason=response.additional_response if response is not None else None,
        )
