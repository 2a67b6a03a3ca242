"""What the security module says about one purchase: PIN and ARQC verdicts, and the answer.

The processor asks once per request; the verdicts feed the authorization engine as facts, and
the ARPC goes back to the card in DE55 tag 91.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cards.catalog import CardSet
from cards.crypto import tlv
from switch.protocol.messages import FinancialRequest
from switch.security.hsm import ArqcCheck, PinCheck, SecurityModule

__all__ = ["SecurityFacts", "inspect_purchase"]


@dataclass(frozen=True)
class SecurityFacts:
    """Verdicts on DE52 and DE55 (None when the request has none), and the cryptogram's ATC."""

    pin: PinCheck | None = None
    arqc: ArqcCheck | None = None
    atc: int | None = None
    _security: SecurityModule | None = field(default=None, repr=False)
    _issuer: str = ""
    _icc: dict[str, bytes] = field(default_factory=dict, repr=False)
    _pan: str = field(default="", repr=False)

    def response_icc(self, response_code: str) -> str | None:
        """DE55 of the 0210: tag 91 = ARPC ‖ ARC, when the card's ARQC verified."""
        if self.arqc is not ArqcCheck.OK or self._security is None:
            return None
        arpc = self._security.arpc(
            issuer=self._issuer, pan=self._pan, icc=self._icc, response_code=response_code
        )
        return tlv.encode({"91": arpc}).hex().upper()


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
    if request.icc_data is None:
        return SecurityFacts(pin=pin)
    try:
        icc = tlv.decode_dict(bytes.fromhex(request.icc_data))
    except (tlv.TlvError, ValueError):
        return SecurityFacts(pin=pin, arqc=ArqcCheck.MALFORMED)
    arqc = security.verify_arqc(issuer=issuer, pan=request.pan, icc=icc)
    atc = int.from_bytes(icc["9F36"], "big") if arqc is ArqcCheck.OK else None
    return SecurityFacts(pin, arqc, atc, security, issuer, icc, request.pan)
