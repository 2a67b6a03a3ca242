"""The wallet app's messages (BaridiPay style QR payments), JSON on ``wallet/{wallet}/pay`` and
``wallet/{wallet}/result``: no ISO 8583 here, as the real app speaks to its issuer's servers,
not to a card switch. The result reuses ISO 8583 response codes so one table explains all."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from cards.currency import currency
from cards.masking import mask_pan
from wire.protocol.fields import Pan

__all__ = ["QrPaymentRequest", "QrPaymentResult", "WalletId"]

WalletId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,32}$")]


class QrPaymentRequest(BaseModel):
    """The holder scanned a merchant's code and confirmed with the app's one-time code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wallet: WalletId
    reference: WalletId
    """The app's id for this payment: sent again, it gets the same result, once."""
    sent_at: AwareDatetime
    qr: str = Field(min_length=8, max_length=512)
    """The scanned payload (cards.qr)."""
    pan: Pan = Field(repr=False)
    """The holder's Edahabia card, the app's link to their CCP account."""
    amount: int | None = Field(default=None, gt=0, le=10**12)
    """Minor units, typed by the holder for a static code; a dynamic code carries its own."""
    otp: str = Field(pattern=r"^[0-9]{6}$", repr=False)

    def __repr__(self) -> str:
        return f"<QrPaymentRequest {self.wallet}/{self.reference} card {mask_pan(self.pan)}>"


class QrPaymentResult(BaseModel):
    """What the switch answers the app (and tells the merchant's terminal when it is paid)."""

    model_config = ConfigDict(frozen=True)

    wallet: str
    reference: str
    response_code: str
    """ISO 8583 DE39: 00 paid; 13 below the minimum or a wrong amount; 61 over the daily cap;
    51 not enough money; 55 a wrong one-time code; 14 unknown card; 30 an unreadable code."""
    reason: str
    amount: int | None = None
    currency: str | None = None
    """ISO 4217 alphabetic code."""
    tid: str | None = None
    merchant: str | None = None
    qr_reference: str | None = None
    """The reference of the dynamic code paid (the sale the terminal shows)."""
    masked_pan: str | None = None
    rrn: str | None = None
    at: datetime | None = None

    @property
    def paid(self) -> bool:
        return self.response_code == "00"

    def trace_view(self) -> bytes:
        """The payment as trace events show it (wire.protocol.trace): ISO 8583 keys where
        one fits (2 masked PAN, 4, 7 the app's reference, 39, 41, 49), MTI ``QR``; no
        one-time code."""
        cur = currency(self.currency) if self.currency else None
        view = {"mti": "QR", "7": self.reference, "41": self.tid or "", "39": self.response_code,
                "2": self.masked_pan or "", "44": self.reason[:25]}  # fmt: skip
        if self.amount is not None and cur is not None:
            view |= {"4": f"{self.amount:012d}", "49": cur.numeric}
        if self.rrn:
            view["37"] = self.rrn
        return json.dumps(view).encode()

    @classmethod
    def refused(cls, wallet: str, reference: str, code: str, reason: str) -> QrPaymentResult:
        """A refusal before anything about the payment was known."""
        return cls(wallet=wallet, reference=reference, response_code=code, reason=reason[:60])
