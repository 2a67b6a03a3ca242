"""Building a terminal's ISO 8583 requests (pure): card presentation, STANs, local times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cards.catalog import CardSet
from cards.chip import TerminalData
from cards.masking import mask_pan
from cards.models import Card
from wire.journal import JournalEntry, journal_totals
from wire.protocol.amounts import CASH_BACK as CASH_BACK_AMOUNT
from wire.protocol.amounts import AdditionalAmount, format_amounts
from wire.protocol.fields import NetworkCode, format_transmission_time
from wire.protocol.messages import (
    AuthorizationRequest,
    BatchRequest,
    CompletionAdvice,
    FinancialRequest,
    NetworkRequest,
    OriginalDataElements,
    ReversalAdvice,
    ReversalRequest,
)
from wire.registry import TerminalProfile

__all__ = [
    "BALANCE_INQUIRY",
    "CASH_BACK",
    "CHIP_WITH_PIN",
    "CVV2_ENTRIES",
    "ENTRY_MODES",
    "PURCHASE",
    "REFUND",
    "CardPresentation",
    "RequestBuilder",
]

PURCHASE = "000000"
R = TypeVar("R", bound=ReversalRequest | CompletionAdvice)
REFUND = "200000"
CASH_BACK = "090000"
"""DE3 of a purchase with cash-back."""
BALANCE_INQUIRY = "310000"
"""DE3 of a balance inquiry."""
"""DE3 of a refund: money back to the card (credit), from the default account."""
CHIP_WITH_PIN = "051"
"""DE22: integrated circuit card read, PIN entry capable."""
ENTRY_MODES = {
    "chip": CHIP_WITH_PIN,
    "magstripe": "021",
    "keyed": "012",
    "fallback": "801",
    "ecommerce": "812",
}
"""DE22 by how the card is read; ``fallback``: the stripe, because the chip could not be read."""
"""DE22 per way of reading the card: chip, magnetic stripe (PIN capable), keyed (no PIN pad),
chip fallback to the stripe, and e-commerce (card not present on the internet: a web shop's
payment page, with the CVV2 and no PIN)."""
CVV2_ENTRIES = ("keyed", "ecommerce")
"""Entries that prove the card by its printed CVV2 (DE48)."""


@dataclass(frozen=True, slots=True)
class CardPresentation:
    """What a terminal reads from a card: PAN, expiry (YYMM), PSN, label; never the record."""

    pan: str
    expiry: str
    psn: int = 1
    label: str = ""
    card_id: str | None = None
    entry_mode: str = CHIP_WITH_PIN

    @classmethod
    def from_card(cls, card: Card, cards: CardSet) -> CardPresentation:
        """Read ``card`` as a chip would present it (its printed expiry, product label)."""
        return cls(
            pan=card.pan,
            expiry=card.presented_yymm,
            psn=card.psn,
            label=cards.products[card.product].name.upper(),
            card_id=card.id,
        )

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    def __repr__(self) -> str:
        return f"<CardPresentation {self.card_id or '-'} {self.masked_pan}>"

    __str__ = __repr__


class RequestBuilder:
    """Builds one terminal's requests: STAN counter (1..999999, wrapping) and time fields."""

    def __init__(self, profile: TerminalProfile, first_stan: int = 1) -> None:
        if not 1 <= first_stan <= 999_999:
            raise ValueError("a STAN is between 1 and 999999")
        self.profile = profile
        self._next_stan = first_stan

    @property
    def upcoming_stan(self) -> int:
        """The STAN the next request will use (what a TPE keeps across power cycles)."""
        return self._next_stan

    def next_stan(self) -> int:
        stan = self._next_stan
        self._next_stan = 1 if stan >= 999_999 else stan + 1
        return stan

    def _local(self, now: datetime) -> tuple[str, str]:
        local = now.astimezone(self.profile.country.zone)
        return local.strftime("%H%M%S"), local.strftime("%m%d")

    def sign_on(self, now: datetime, ksn: str | None = None) -> NetworkRequest:
        return self._network("001", now, ksn)

    def echo(self, now: datetime, ksn: str | None = None) -> NetworkRequest:
        """An 0800 echo test (network code 301): is the switch there?"""
        return self._network("301", now, ksn)

    def _network(self, code: NetworkCode, now: datetime, ksn: str | None) -> NetworkRequest:
        return NetworkRequest(
            transmission_time=format_transmission_time(now),
            stan=self.next_stan(),
            terminal_id=self.profile.tid,
            network_code=code,
            merchant_id=self.profile.merchant.mid,
            ksn=ksn,
        )

    def purchase(
        self,
        card: CardPresentation,
        amount: int,
        now: datetime,
        *,
        pin_block: str | None = None,
        ksn: str | None = None,
        icc_data: str | None = None,
        entry_mode: str | None = None,
        track2: str | None = None,
        card_security_code: str | None = None,
        processing_code: str = PURCHASE,
        preauth: bool = False,
        cash_back: int = 0,
        refund_of: OriginalDataElements | None = None,
    ) -> FinancialRequest:
        """A 0200 purchase (or refund, DE3 ``200000``; or with ``preauth`` an 0100) of
        ``amount`` minor units in the terminal's currency, with the encrypted PIN (DE52) when
        the holder entered one and the DUKPT KSN (DE53). With ``cash_back`` (minor units) it
        is a purchase with cash-back: DE3 ``090000``, DE4 the purchase plus the cash, DE54 the
        cash. A balance inquiry is ``processing_code`` ``310000`` and ``amount`` 0. A refund
        may name the sale it gives back from (``refund_of``, DE90)."""
        amounts = None
        if cash_back:
            processing_code, amount = CASH_BACK, amount + cash_back
            cash = AdditionalAmount(CASH_BACK_AMOUNT, self.profile.currency.numeric, cash_back)
            amounts = format_amounts([cash])
        local_time, local_date = self._local(now)
        cls = AuthorizationRequest if preauth else FinancialRequest
        return cls(
            transmission_time=format_transmission_time(now),
            stan=self.next_stan(),
            terminal_id=self.profile.tid,
            pan=card.pan,
            processing_code=processing_code,
            amount=amount,
            local_time=local_time,
            local_date=local_date,
            expiry=card.expiry,
            entry_mode=entry_mode or card.entry_mode,
            card_sequence=f"{card.psn:03d}",
            merchant_id=self.profile.merchant.mid,
            merchant_name=self.profile.merchant.name_location,
            currency=self.profile.currency.numeric,
            pin_block=pin_block,
            ksn=ksn,
            icc_data=icc_data,
            track2=track2,
            card_security_code=card_security_code,
            additional_amounts=amounts,
            original_data=refund_of.encode() if refund_of else None,
        )

    def terminal_data(
        self, amount: int, now: datetime, unpredictable_number: bytes
    ) -> TerminalData:
        """What this terminal gives a chip for GENERATE AC."""
        return TerminalData(
            amount=amount,
            currency=self.profile.currency.numeric,
            country=self.profile.country.numeric,
            date=now.astimezone(self.profile.country.zone).strftime("%y%m%d"),
            unpredictable_number=unpredictable_number,
        )

    def batch_close(
        self,
        journal: list[JournalEntry],
        now: datetime,
        ksn: str | None = None,
        *,
        batch_number: int | None = None,
    ) -> BatchRequest:
        """An 0500 closing batch ``batch_number`` (DE60) of the terminal's local day: totals
        and the journal."""
        totals = journal_totals(journal)
        return BatchRequest(
            transmission_time=format_transmission_time(now),
            stan=self.next_stan(),
            terminal_id=self.profile.tid,
            settlement_date=self._local(now)[1],
            merchant_id=self.profile.merchant.mid,
            currency=self.profile.currency.numeric,
            sales=totals.sales,
            sales_amount=totals.sales_amount,
            refunds=totals.refunds,
            refunds_amount=totals.refunds_amount,
            journal=tuple(entry.encode() for entry in journal),
            batch_number=batch_number,
            ksn=ksn,
        )

    def completion(
        self, original: FinancialRequest, amount: int, now: datetime, ksn: str | None = None
    ) -> CompletionAdvice:
        """An 0220 capturing ``amount`` (at most what was authorized) of the 0100 ``original``."""
        return self._referring(CompletionAdvice, original, amount, now, ksn)

    def reversal(
        self, original: FinancialRequest, now: datetime, ksn: str | None = None
    ) -> ReversalRequest:
        """A 0400 that undoes ``original``; DE90 names it by MTI, STAN and DE7."""
        return self._referring(ReversalRequest, original, original.amount, now, ksn)

    def reversal_advice(
        self, original: FinancialRequest, now: datetime, ksn: str | None = None
    ) -> ReversalAdvice:
        """An 0420 that undoes ``original`` from the store-and-forward queue."""
        return self._referring(ReversalAdvice, original, original.amount, now, ksn)

    def _referring(
        self, cls: type[R], original: FinancialRequest, amount: int, now: datetime, ksn: str | None
    ) -> R:
        """A message about ``original`` (named in DE90) for ``amount`` minor units."""
        local_time, local_date = self._local(now)
        return cls(
            transmission_time=format_transmission_time(now),
            stan=self.next_stan(),
            terminal_id=self.profile.tid,
            pan=original.pan,
            processing_code=original.processing_code,
            amount=amount,
            local_time=local_time,
            local_date=local_date,
            merchant_id=original.merchant_id,
            currency=original.currency,
            original_data=OriginalDataElements(
                mti=original.mti,
                stan=original.stan,
                transmission_time=original.transmission_time,
            ).encode(),
            ksn=ksn,
        )
