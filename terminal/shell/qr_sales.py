"""Selling by QR code, BaridiPay style: the terminal shows a merchant-presented code (cards.qr,
an approximation of a format that is not public), a holder's wallet app pays it, and the switch
tells the terminal, which prints a receipt. The money moves account to account at the switch:
nothing goes in the terminal's batch (the switch's batch totals count card sales only)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cards.currency import format_amount
from cards.qr import MerchantQr, encode_qr
from terminal.builder import RequestBuilder
from terminal.channel import Channel
from terminal.receipt import RECEIPT_WIDTH
from wire.protocol.wallet import QrPaymentResult
from wire.registry import TerminalProfile

__all__ = ["QrSales", "render_qr_receipt"]


class QrSales:
    """The QR half of :class:`~terminal.shell.tpe.Terminal`."""

    profile: TerminalProfile
    builder: RequestBuilder
    channel: Channel
    paper: bool
    unprinted: list[str]

    if TYPE_CHECKING:  # provided by another half of Terminal

        def _now(self) -> datetime: ...

    def show_qr(self, amount: int | None = None) -> tuple[str, MerchantQr]:
        """The code to show: dynamic for one sale of ``amount`` minor units (its reference is
        the terminal's next STAN), static when None (the payer types the amount). The payload
        and what it says."""
        merchant = self.profile.merchant
        reference = f"{self.profile.tid}-{self.builder.next_stan():06d}" if amount else ""
        code = MerchantQr(mid=merchant.mid, tid=self.profile.tid, name=merchant.name,
                          city=merchant.city, mcc=merchant.mcc,
                          currency=self.profile.currency.numeric, country=merchant.country,
                          amount=amount, reference=reference)  # fmt: skip
        return encode_qr(code), code

    async def qr_paid(
        self, code: MerchantQr, timeout_s: float = 60.0
    ) -> tuple[QrPaymentResult, str] | None:
        """Wait for the payment of ``code`` (as :meth:`show_qr` gave it): the switch's notice
        and the receipt printed (kept for later without paper). None when nobody paid within
        ``timeout_s``."""
        paid = await self.channel.qr_payment(code.reference, timeout_s)
        if paid is None:
            return None
        receipt = render_qr_receipt(self.profile, paid, self._now())
        if not self.paper:
            self.unprinted.append(receipt)
        return paid, receipt


def render_qr_receipt(profile: TerminalProfile, paid: QrPaymentResult, moment: datetime) -> str:
    """The merchant's receipt of a QR payment, in French and Arabic."""
    cur = profile.currency
    local = moment.astimezone(profile.country.zone)

    def pair(left: str, right: str) -> str:
        return f"{left}{' ' * max(1, RECEIPT_WIDTH - len(left) - len(right))}{right}"

    amount = paid.amount or 0
    lines = [
        "=" * RECEIPT_WIDTH,
        f"{profile.country.acquirer} - TPE".center(RECEIPT_WIDTH).rstrip(),
        profile.merchant.name.center(RECEIPT_WIDTH).rstrip(),
        pair(f"TID {profile.tid}", local.strftime("%d/%m/%Y %H:%M:%S")),
        "-" * RECEIPT_WIDTH,
        pair("PAIEMENT QR", "دفع برمز QR"),
        pair("PORTEUR", paid.masked_pan or ""),
        pair("MONTANT", format_amount(amount, cur)),
        pair("المبلغ", format_amount(amount, cur, symbol=cur.symbol_ar)),
        "-" * RECEIPT_WIDTH,
        "PAIEMENT RECU" if paid.paid else f"PAIEMENT REFUSE {paid.response_code}",
        "تم استلام الدفع" if paid.paid else "تم رفض الدفع",
        f"RRN {paid.rrn or ''}".rstrip(),
        "=" * RECEIPT_WIDTH,
    ]
    return "\n".join(lines)
