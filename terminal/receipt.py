"""The printed receipt: French and Arabic lines, masked PAN, amount with the currency's decimals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cards.currency import Currency, format_amount
from cards.masking import mask_pan
from wire.protocol.codes import describe
from wire.registry import TerminalProfile

__all__ = ["RECEIPT_WIDTH", "ReceiptData", "render_receipt"]

RECEIPT_WIDTH = 40
"""Characters per line of a 58 mm thermal printer."""


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """What a receipt shows about one transaction."""

    profile: TerminalProfile
    moment: datetime
    stan: int
    pan: str
    card_label: str
    amount: int
    response_code: str | None
    auth_code: str | None = None
    rrn: str | None = None
    reversal_acknowledged: bool | None = None
    processing_code: str = "000000"
    """What it was (DE3): a purchase, with cash-back (09), a refund (20), a balance inquiry
    (31)."""
    cash_back: int = 0
    """The cash handed over, part of ``amount`` (minor units)."""
    balance: int | None = None
    """The available balance an inquiry's answer gave (minor units of ``card_currency``)."""
    card_currency: Currency | None = None
    """The card account's currency when it is not the terminal's (a card paying abroad)."""
    billed: int | None = None
    """Paid abroad: what the card's account is debited (DE6), minor units of
    ``card_currency``."""
    rate: Decimal | None = None
    """Paid abroad: units of ``card_currency`` per unit of the terminal's (DE10)."""
    void: bool = False
    """The cancellation of this sale (terminal.shell.voids): acknowledged when ``response_code`` is
    00, pending otherwise."""


_TITLES = {
    "00": ("ACHAT", "شراء"),
    "09": ("ACHAT AVEC RETRAIT", "شراء مع سحب نقدي"),
    "20": ("REMBOURSEMENT", "استرداد"),
    "31": ("CONSULTATION DE SOLDE", "استعلام عن الرصيد"),
}


def _center(text: str) -> str:
    return text.center(RECEIPT_WIDTH).rstrip()


def _pair(left: str, right: str) -> str:
    gap = max(1, RECEIPT_WIDTH - len(left) - len(right))
    return f"{left}{' ' * gap}{right}"


def _amount_lines(data: ReceiptData) -> list[str]:
    """The amount in French and Arabic; with cash-back, the purchase and the cash first; none
    for a balance inquiry."""
    cur = data.profile.currency
    if data.processing_code.startswith("31"):
        return []
    lines = []
    if data.cash_back:
        lines += [
            _pair("ACHAT", format_amount(data.amount - data.cash_back, cur)),
            _pair("RETRAIT", format_amount(data.cash_back, cur)),
        ]
    label = "TOTAL" if data.cash_back else "MONTANT"
    lines += [
        _pair(label, format_amount(data.amount, cur)),
        _pair("المبلغ", format_amount(data.amount, cur, symbol=cur.symbol_ar)),
    ]
    billed = data.card_currency
    if data.billed is not None and billed is not None:
        lines.append(_pair("DEBITE SUR LA CARTE", format_amount(data.billed, billed)))
        if data.rate is not None:
            rate = f"{data.rate:f}".replace(".", ",")
            lines.append(_pair("TAUX", f"1 {cur.symbol_fr} = {rate} {billed.symbol_fr}"))
    return lines


def render_receipt(data: ReceiptData) -> str:
    """The customer copy as the terminal's printer prints it (one string, lines joined by \\n)."""
    profile = data.profile
    merchant = profile.merchant
    country = profile.country
    cur = profile.currency
    local = data.moment.astimezone(country.zone)
    rule = "-" * RECEIPT_WIDTH
    lines = [
        "=" * RECEIPT_WIDTH,
        _center(f"{country.acquirer} - TPE"),
        _center(country.acquirer_ar),
        _center(merchant.name),
        _center(f"{merchant.city} ({merchant.country})"),
        _pair(f"TID {profile.tid}", f"MID {merchant.mid}"),
        _pair(local.strftime("%d/%m/%Y %H:%M:%S"), f"STAN {data.stan:06d}"),
        rule,
        _pair("ANNULATION", "إلغاء")
        if data.void
        else _pair(*_TITLES.get(data.processing_code[:2], _TITLES["00"])),
        _pair(data.card_label or "CARTE", mask_pan(data.pan)),
        *_amount_lines(data),
        rule,
    ]
    code = data.response_code
    if data.void:
        lines += (
            ["ANNULATION ACCEPTEE", "تم قبول الإلغاء", "Montant non debite"]
            if code == "00"
            else ["ANNULATION EN ATTENTE", "الإلغاء قيد الانتظار", "Verifiez votre releve"]
        )
    elif code == "00":
        lines += [
            "TRANSACTION ACCEPTEE",
            "عملية مقبولة",
            _pair(f"AUTORISATION {data.auth_code or ''}".rstrip(), f"RRN {data.rrn or ''}"),
        ]
        if data.balance is not None:
            held = data.card_currency or cur
            lines += [
                _pair("SOLDE DISPONIBLE", format_amount(data.balance, held)),
                _pair("الرصيد المتاح", format_amount(data.balance, held, symbol=held.symbol_ar)),
            ]
    elif code == "Y3":
        lines += [
            "TRANSACTION ACCEPTEE HORS LIGNE",
            "عملية مقبولة دون اتصال",
            f"AUTORISATION {data.auth_code or ''}".rstrip(),
        ]
    elif code is None:
        lines += [
            "TRANSACTION ANNULEE - PAS DE REPONSE",
            "عملية ملغاة - لا يوجد رد",
            "Annulation transmise" if data.reversal_acknowledged else "Annulation en attente",
            "تم إرسال الإلغاء" if data.reversal_acknowledged else "الإلغاء قيد الانتظار",
            "Aucun montant debite" if data.reversal_acknowledged else "Verifiez votre releve",
        ]
    else:
        meaning = describe(code)
        lines += [
            "TRANSACTION REFUSEE",
            "عملية مرفوضة",
            f"{code} - {meaning.fr}",
            meaning.ar,
        ]
        if data.rrn:
            lines.append(f"RRN {data.rrn}")
    lines += [
        rule,
        _center("TICKET CLIENT - نسخة الزبون"),
        _center("Merci de votre visite - شكرا لزيارتكم"),
        "=" * RECEIPT_WIDTH,
    ]
    return "\n".join(lines)
