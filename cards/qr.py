"""A merchant-presented QR code in the style of Algérie Poste's BaridiPay, for the simulator.

BaridiPay's payload format is not public. This is an **approximation** built on the EMVCo QR Code
Specification for Payment Systems, merchant-presented mode (MPM): a string of TLV fields, each a
2-digit tag, a 2-digit length and the value, ending with tag 63, a CRC-16/CCITT-FALSE over the
whole payload up to and including ``6304``. A static code carries no amount (the payer types it);
a dynamic one carries the amount of one sale. Pure.

Fields written: 00 payload format ``01``; 01 ``11`` static or ``12`` dynamic; 26 the merchant
account template (00 the scheme's identifier, 01 the merchant id DE42, 02 the terminal id); 52
MCC; 53 ISO 4217 numeric currency; 54 amount (dynamic only, major units with a point); 58 country;
59 merchant name; 60 city; 62 additional data (05 the sale's reference); 63 the CRC.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from cards.currency import Currency, currency_by_numeric

__all__ = ["SCHEME_ID", "MerchantQr", "QrError", "crc16", "decode_qr", "encode_qr"]

SCHEME_ID = "DZ.POSTE.BARIDIPAY"
"""The merchant account template's identifier (tag 26-00): tpesim's, not Algérie Poste's."""
_STATIC, _DYNAMIC = "11", "12"


class QrError(ValueError):
    """A payload that is not a well-formed tpesim merchant QR, with what is wrong."""


def crc16(data: bytes) -> str:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) as 4 upper-case hex digits."""
    return f"{binascii.crc_hqx(data, 0xFFFF):04X}"


@dataclass(frozen=True, slots=True)
class MerchantQr:
    """What the terminal shows: who is paid, in what currency, and (dynamic) how much."""

    mid: str
    tid: str
    name: str
    city: str
    mcc: str
    currency: str
    """ISO 4217 numeric."""
    country: str
    amount: int | None = None
    """Minor units; None for a static code (the payer types the amount)."""
    reference: str = ""
    """The sale's reference (tag 62-05), for a dynamic code."""

    @property
    def dynamic(self) -> bool:
        return self.amount is not None


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise QrError(f"tag {tag}: {len(value)} characters, at most 99")
    return f"{tag}{len(value):02d}{value}"


def _major(amount: int, currency: Currency) -> str:
    """``150000`` DZD → ``1500.00`` (EMVCo writes amounts in major units with a point)."""
    if currency.exponent == 0:
        return str(amount)
    whole, fraction = divmod(amount, 10**currency.exponent)
    return f"{whole}.{fraction:0{currency.exponent}d}"


def _minor(text: str, currency: Currency) -> int:
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise QrError(f"tag 54: amount {text!r} is not a number")
    if len(fraction) > currency.exponent:
        raise QrError(f"tag 54: more than {currency.exponent} decimals for {currency.code}")
    scale: int = 10**currency.exponent
    return int(whole) * scale + int(fraction.ljust(currency.exponent, "0") or 0)


def encode_qr(qr: MerchantQr) -> str:
    """The payload string of ``qr``, CRC included."""
    cur = currency_by_numeric(qr.currency)
    if cur is None:
        raise QrError(f"unknown currency {qr.currency}")
    account = _tlv("00", SCHEME_ID) + _tlv("01", qr.mid) + _tlv("02", qr.tid)
    fields = [
        _tlv("00", "01"),
        _tlv("01", _DYNAMIC if qr.dynamic else _STATIC),
        _tlv("26", account),
        _tlv("52", qr.mcc),
        _tlv("53", qr.currency),
    ]
    if qr.amount is not None:
        if qr.amount <= 0:
            raise QrError("a dynamic code's amount must be positive")
        fields.append(_tlv("54", _major(qr.amount, cur)))
    fields += [_tlv("58", qr.country), _tlv("59", qr.name[:25]), _tlv("60", qr.city[:15])]
    if qr.reference:
        fields.append(_tlv("62", _tlv("05", qr.reference)))
    body = "".join(fields) + "6304"
    return body + crc16(body.encode())


def _fields(text: str, where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    at = 0
    while at < len(text):
        tag, size = text[at : at + 2], text[at + 2 : at + 4]
        if len(size) < 2 or not (tag.isdigit() and size.isdigit()):
            raise QrError(f"{where}: a field at character {at} has no tag and length")
        value = text[at + 4 : at + 4 + int(size)]
        if len(value) != int(size):
            raise QrError(f"{where}: tag {tag} is cut short")
        if tag in found:
            raise QrError(f"{where}: tag {tag} twice")
        found[tag] = value
        at += 4 + int(size)
    return found


def decode_qr(payload: str) -> MerchantQr:
    """The code ``payload`` says; :class:`QrError` naming the tag at fault (the CRC first)."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise QrError("no CRC (tag 63) at the end")
    if crc16(payload[:-4].encode("utf-8", "replace")) != payload[-4:].upper():
        raise QrError("the CRC does not match: the code is damaged or altered")
    tags = _fields(payload[:-8], "payload")
    for tag in ("00", "01", "26", "52", "53", "58", "59", "60"):
        if tag not in tags:
            raise QrError(f"tag {tag} missing")
    if tags["00"] != "01" or tags["01"] not in (_STATIC, _DYNAMIC):
        raise QrError("tags 00/01: not an EMVCo merchant-presented code")
    account = _fields(tags["26"], "tag 26")
    if account.get("00") != SCHEME_ID or "01" not in account or "02" not in account:
        raise QrError(f"tag 26: not a {SCHEME_ID} merchant account")
    cur = currency_by_numeric(tags["53"])
    if cur is None:
        raise QrError(f"tag 53: unknown currency {tags['53']}")
    dynamic = tags["01"] == _DYNAMIC
    if dynamic != ("54" in tags):
        raise QrError("tag 54: a dynamic code has an amount, a static one none")
    amount = _minor(tags["54"], cur) if dynamic else None
    reference = _fields(tags["62"], "tag 62").get("05", "") if "62" in tags else ""
    return MerchantQr(mid=account["01"], tid=account["02"], name=tags["59"], city=tags["60"],
                      mcc=tags["52"], currency=tags["53"], country=tags["58"], amount=amount,
                      reference=reference)  # fmt: skip
