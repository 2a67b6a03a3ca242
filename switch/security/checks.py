"""What the security module says about one purchase: PIN and ARQC verdicts, and the answer.

The processor asks once per request; the verdicts feed the authorization engine as facts, and
the ARPC goes back to the card in DE55 tag 91.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cards.catalog import CardSet
from cards.crypto import tlv
from cards.crypto.cvv import CVV2_SERVICE_CODE
from cards.models import Card
from switch.security.hsm import ArqcCheck, CvvCheck, PinCheck, SecurityModule
from wire.protocol.messages import FinancialRequest

__all__ = ["SecurityFacts", "inspect_purchase"]


@dataclass(frozen=True)
class SecurityFacts:
    """Verdicts on DE52, DE55 and the card code (None when the request has none), the
    cryptogram's ATC, and how to answer the card."""

    pin: PinCheck | None = None
    arqc: ArqcCheck | None = None
    atc: int | None = None
    cvv: CvvCheck | None = None
    arpc: Callable[[str], bytes] | None = field(default=None, repr=False)
    """Tag 91 for a response code; set only when the ARQC verified."""

    def response_icc(self, response_code: str) -> str | None:
        """DE55 of the 0210: tag 91 = ARPC ‖ ARC, when the card's ARQC verified."""
        if self.arpc is None:
            return None
        return tlv.encode({"91": self.arpc(response_code)}).hex().upper()


def inspect_purchase(
    security: SecurityModule, cards: CardSet, request: FinancialRequest
) -> SecurityFacts:
    """Verify the PIN block and the ARQC of ``request`` for the card the issuer has on file."""
    card = cards.issuer_card(request.pan)
    if card is None:
        return SecurityFacts()
    issuer = cards.products[card.product].issuer
    pin: PinCheck | None = None
    if request.pin_block is not None:
        if card.pvv is None or request.ksn is None:
            pin = PinCheck.UNREADABLE
        else:
            pin = security.verify_pin(issuer=issuer, pan=request.pan, pvv=card.pvv,
                                      pin_block=bytes.fromhex(request.pin_block),
                                      ksn=bytes.fromhex(request.ksn))  # fmt: skip
    cvv = _card_code(security, issuer, card, request)
    if request.icc_data is None:
        missing = ArqcCheck.MISSING if request.entry_mode[:2] in CHIP_MODES else None
        return SecurityFacts(pin=pin, arqc=missing, cvv=cvv)
    try:
        icc = tlv.decode_dict(bytes.fromhex(request.icc_data))
    except (tlv.TlvError, ValueError):
        return SecurityFacts(pin=pin, arqc=ArqcCheck.MALFORMED, cvv=cvv)
    arqc = security.verify_arqc(issuer=issuer, pan=request.pan, icc=icc)
    if arqc is not ArqcCheck.OK:
        return SecurityFacts(pin=pin, arqc=arqc, cvv=cvv)
    pan = request.pan

    def arpc(response_code: str) -> bytes:
        return security.arpc(issuer=issuer, pan=pan, icc=icc, response_code=response_code)

    atc = int.from_bytes(icc["9F36"], "big")
    return SecurityFacts(pin=pin, arqc=arqc, atc=atc, cvv=cvv, arpc=arpc)


CHIP_MODES = ("05", "07")
"""DE22 of a chip read, contact or contactless: DE55, the card's cryptogram, is mandatory."""
MAGSTRIPE_MODES = ("02", "80", "90")
KEYED_MODE = "01"
ECOMMERCE_MODE = "81"
"""Card not present on the internet: like a keyed entry, the CVV2 in DE48 proves the card."""


def _card_code(
    security: SecurityModule, issuer: str, card: Card, request: FinancialRequest
) -> CvvCheck | None:
    """CVV of a magstripe read (DE35) or CVV2 of a keyed or e-commerce entry (DE48); None for
    chip entry."""
    mode = request.entry_mode[:2]
    if mode in MAGSTRIPE_MODES:
        if request.track2 is None:
            return CvvCheck.TRACK_MISSING
        pan, _, rest = request.track2.replace("D", "=").partition("=")
        if pan != request.pan or len(rest) < 15:
            return CvvCheck.TRACK_MISMATCH
        service_code, track_cvv = rest[4:7], rest[12:15]  # after YYMM; PVKI + PVV precede the CVV
        ok = security.verify_cvv(issuer=issuer, pan=pan, expiry_yymm=card.expiry_yymm,
                                 service_code=service_code, value=track_cvv)  # fmt: skip
        return CvvCheck.OK if ok else CvvCheck.WRONG_CVV
    if mode in (KEYED_MODE, ECOMMERCE_MODE):
        if request.card_security_code is None:
            return CvvCheck.CVV2_MISSING
        ok = security.verify_cvv(issuer=issuer, pan=request.pan, expiry_yymm=card.expiry_yymm,
                                 service_code=CVV2_SERVICE_CODE,
                                 value=request.card_security_code)  # fmt: skip
        return CvvCheck.OK if ok else CvvCheck.WRONG_CVV2
    return None
