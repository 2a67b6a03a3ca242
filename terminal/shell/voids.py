"""Voiding the last transaction: the cancel key of an Algérie Poste TPE, for a sale (or refund)
keyed in error while the customer is still at the till.

A void is a reversal of the terminal's last approved sale of the open batch, sent as a
reversal advice through store-and-forward (0420, then 0421 repeats until the 0430): the switch
releases the hold, the batch forgets the sale. An unanswered void stays queued, and the sale
stays in the batch as reversal-pending, as for any reversal (terminal.shell.saf)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from terminal.receipt import ReceiptData, render_receipt
from terminal.records import TerminalError, TerminalStats, TransactionOutcome
from wire.journal import EntryKind, JournalEntry
from wire.protocol.messages import FinancialRequest
from wire.registry import TerminalProfile

__all__ = ["Voids"]


class Voids:
    """The void half of :class:`~terminal.shell.tpe.Terminal`."""

    profile: TerminalProfile
    journal: list[JournalEntry]
    stats: TerminalStats
    paper: bool
    unprinted: list[str]
    last_sale: FinancialRequest | None
    """The last approved sale or refund of the open batch, until voided or the batch closes."""

    if TYPE_CHECKING:  # provided by another half of Terminal

        @property
        def tid(self) -> str: ...

        def _now(self) -> datetime: ...

        async def _reverse(self, original: FinancialRequest) -> str: ...

        def _unjournal(self, kind: EntryKind, stan: int) -> None: ...

    async def _void(self, masked_pan: str, card_label: str) -> TransactionOutcome:
        """Reverse :attr:`last_sale`; the caller holds the terminal."""
        sale = self.last_sale
        if sale is None:
            raise TerminalError(f"{self.tid}: nothing to void (no sale since the last batch)")
        self.last_sale = None
        result = await self._reverse(sale)
        kind = EntryKind.REFUND if sale.processing_code.startswith("20") else EntryKind.SALE
        self._unjournal(kind, sale.stan)
        if result != "acknowledged" and kind is EntryKind.SALE:
            self.journal.append(JournalEntry(EntryKind.REVERSAL_PENDING, sale.stan, sale.amount))
        acknowledged = result == "acknowledged"
        receipt = render_receipt(
            ReceiptData(
                profile=self.profile,
                moment=self._now(),
                stan=sale.stan,
                pan=sale.pan,
                card_label=card_label,
                amount=sale.amount,
                response_code="00" if acknowledged else None,
                reversal_acknowledged=acknowledged,
                processing_code=sale.processing_code,
                void=True,
            )
        )
        if not self.paper:
            self.unprinted.append(receipt)
        self.stats.outcomes["void" if acknowledged else "void pending"] += 1
        return TransactionOutcome(
            tid=self.tid,
            stan=sale.stan,
            transmission_time=sale.transmission_time,
            card_id=None,
            masked_pan=masked_pan,
            amount=sale.amount,
            currency=self.profile.currency.code,
            response_code="00" if acknowledged else None,
            rrn=None,
            auth_code=None,
            reversal=result,
            latency_ms=0.0,
            receipt=receipt,
            printed=self.paper,
        )
