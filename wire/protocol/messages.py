"""ISO 8583:1987 messages tpesim terminals and the switch exchange, as pydantic models.

Each model carries the MTI and the data elements it uses; JSON keys are the data element
numbers (``"2"``, ``"4"``, ``"41"``) plus ``"mti"``. Python attribute names say what the
element is. Messages are frozen; build a new one to change a field.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from cards.masking import mask_pan
from wire.protocol.amounts import AdditionalAmounts
from wire.protocol.billing import ConversionRate
from wire.protocol.fields import (
    AdditionalResponse,
    AmountMinor,
    AuthCode,
    BatchNumber,
    CardSecurityCode,
    Count,
    CurrencyNumeric,
    DifferenceLine,
    Expiry,
    HexField,
    JournalLine,
    LocalDate,
    LocalTime,
    MerchantId,
    MerchantNameLocation,
    NetworkCode,
    OriginalData,
    Pan,
    PosEntryMode,
    ProcessingCode,
    Psn,
    ResponseCode,
    Rrn,
    SettlementDate,
    Stan,
    TerminalId,
    TotalAmount,
    Track2,
    TransmissionTime,
)

__all__ = [
    "AuthorizationRequest",
    "AuthorizationResponse",
    "BatchRequest",
    "BatchResponse",
    "CompletionAdvice",
    "CompletionResponse",
    "FinancialRequest",
    "FinancialResponse",
    "IdempotencyKey",
    "IsoMessage",
    "NetworkRequest",
    "NetworkResponse",
    "OfflineAdvice",
    "OriginalDataElements",
    "Request",
    "Response",
    "ReversalAdvice",
    "ReversalAdviceResponse",
    "ReversalRequest",
    "ReversalResponse",
]

IdempotencyKey = tuple[str, int, str]
"""(TID, STAN, DE7): a request seen twice with this key is answered from the stored response."""


class IsoMessage(BaseModel):
    """Common base: frozen, unknown fields refused, attributes settable by name or DE number."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    mti: str
    transmission_time: TransmissionTime = Field(alias="7")
    stan: Stan = Field(alias="11")
    terminal_id: TerminalId = Field(alias="41")

    response_mti: ClassVar[str] = ""

    @property
    def key(self) -> IdempotencyKey:
        """Idempotency key (TID, STAN, DE7)."""
        return (self.terminal_id, self.stan, self.transmission_time)

    def __repr__(self) -> str:
        code = getattr(self, "response_code", None)
        tail = f" rc={code}" if code else ""
        return f"<{type(self).__name__} {self.mti} {self.terminal_id} stan={self.stan:06d}{tail}>"

    __str__ = __repr__


class FinancialRequest(IsoMessage):
    """0200 financial request: a purchase (DE3 ``000000``), with cash-back (``09``, the cash
    in DE54), a refund (``20``) or a balance inquiry (``31``, DE4 zero)."""

    mti: Literal["0200"] = "0200"
    pan: Pan = Field(alias="2")
    processing_code: ProcessingCode = Field(alias="3")
    amount: AmountMinor = Field(alias="4")
    local_time: LocalTime = Field(alias="12")
    local_date: LocalDate = Field(alias="13")
    expiry: Expiry = Field(alias="14")
    entry_mode: PosEntryMode = Field(alias="22")
    card_sequence: Psn | None = Field(default=None, alias="23")
    track2: Track2 | None = Field(default=None, alias="35", repr=False)
    card_security_code: CardSecurityCode | None = Field(default=None, alias="48", repr=False)
    merchant_id: MerchantId = Field(alias="42")
    merchant_name: MerchantNameLocation | None = Field(default=None, alias="43")
    currency: CurrencyNumeric = Field(alias="49")
    pin_block: HexField | None = Field(default=None, alias="52")
    ksn: HexField | None = Field(default=None, alias="53")
    additional_amounts: AdditionalAmounts | None = Field(default=None, alias="54")
    icc_data: HexField | None = Field(default=None, alias="55")
    mac: HexField | None = Field(default=None, alias="64")
    original_data: OriginalData | None = Field(default=None, alias="90")
    """A refund only: the sale it gives money back from (its MTI, STAN and DE7 at this
    terminal), bounding the refund by what the sale left (switch.rules.refunds)."""

    response_mti: ClassVar[str] = "0210"

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)


class FinancialResponse(IsoMessage):
    """0210 financial response: DE39 says approved (00) or why not; DE38 holds the approval."""

    mti: Literal["0210"] = "0210"
    processing_code: ProcessingCode | None = Field(default=None, alias="3")
    amount: AmountMinor | None = Field(default=None, alias="4")
    billing_amount: AmountMinor | None = Field(default=None, alias="6")
    """Paid abroad: what the card's account is debited, minor units of DE51."""
    conversion_rate: ConversionRate | None = Field(default=None, alias="10")
    """Paid abroad: the rate DE4 was converted at (wire.protocol.billing)."""
    rrn: Rrn | None = Field(default=None, alias="37")
    auth_code: AuthCode | None = Field(default=None, alias="38")
    response_code: ResponseCode = Field(alias="39")
    additional_response: AdditionalResponse | None = Field(default=None, alias="44")
    merchant_id: MerchantId | None = Field(default=None, alias="42")
    currency: CurrencyNumeric | None = Field(default=None, alias="49")
    billing_currency: CurrencyNumeric | None = Field(default=None, alias="51")
    """Paid abroad: the card account's currency (ISO 4217 numeric)."""
    additional_amounts: AdditionalAmounts | None = Field(default=None, alias="54")
    icc_data: HexField | None = Field(default=None, alias="55")
    original_data: OriginalData | None = Field(default=None, alias="90")
    """A refund's DE90, echoed."""

    @property
    def approved(self) -> bool:
        return self.response_code == "00"


class AuthorizationRequest(FinancialRequest):
    """0100 pre-authorization: the same fields as an 0200; approved, it only holds the amount
    until an 0220 completion (or a reversal, or the hold's expiry)."""

    mti: Literal["0100"] = "0100"  # type: ignore[assignment]

    response_mti: ClassVar[str] = "0110"


class AuthorizationResponse(FinancialResponse):
    """0110: the answer to an 0100; DE38 holds the approval code."""

    mti: Literal["0110"] = "0110"  # type: ignore[assignment]


class OriginalDataElements(BaseModel):
    """DE90 split into its parts; ``key`` finds the original request."""

    model_config = ConfigDict(frozen=True)

    mti: str
    stan: int
    transmission_time: str
    acquirer: str = "00000000000"
    forwarder: str = "00000000000"

    @classmethod
    def parse(cls, value: str) -> OriginalDataElements:
        return cls(
            mti=value[0:4],
            stan=int(value[4:10]),
            transmission_time=value[10:20],
            acquirer=value[20:31],
            forwarder=value[31:42],
        )

    def encode(self) -> str:
        return f"{self.mti}{self.stan:06d}{self.transmission_time}{self.acquirer}{self.forwarder}"


class _ReferringMessage(IsoMessage):
    """A message about an earlier one, named in DE90 (a reversal, a completion)."""

    pan: Pan = Field(alias="2")
    processing_code: ProcessingCode = Field(alias="3")
    amount: AmountMinor = Field(alias="4")
    local_time: LocalTime = Field(alias="12")
    local_date: LocalDate = Field(alias="13")
    merchant_id: MerchantId = Field(alias="42")
    currency: CurrencyNumeric = Field(alias="49")
    original_data: OriginalData = Field(alias="90")
    ksn: HexField | None = Field(default=None, alias="53")
    mac: HexField | None = Field(default=None, alias="64")

    @property
    def original(self) -> OriginalDataElements:
        return OriginalDataElements.parse(self.original_data)

    @property
    def original_key(self) -> IdempotencyKey:
        """Idempotency key of the request this message refers to."""
        original = self.original
        return (self.terminal_id, original.stan, original.transmission_time)


class ReversalRequest(_ReferringMessage):
    """0400 reversal request: undo the original named in DE90 (e.g. after a response timeout)."""

    mti: Literal["0400"] = "0400"

    response_mti: ClassVar[str] = "0410"


class ReversalAdvice(ReversalRequest):
    """0420 reversal advice: the same as an 0400, sent from the terminal's store-and-forward
    queue (repeated as 0421 until the 0430 comes back)."""

    mti: Literal["0420", "0421"] = "0420"  # type: ignore[assignment]

    response_mti: ClassVar[str] = "0430"


class CompletionAdvice(_ReferringMessage):
    """0220 completion: capture DE4 (at most the hold) of the 0100 named in DE90; the rest of
    the hold goes back to the cardholder."""

    mti: Literal["0220"] = "0220"

    response_mti: ClassVar[str] = "0230"


class OfflineAdvice(FinancialRequest):
    """0220 advice of a sale the terminal approved offline (EMV, under its floor limit, while
    it could not reach the switch): DE38 its offline approval code, DE39 ``Y3`` (approved,
    unable to go online), DE55 the card's cryptogram. No DE90: it refers to nothing earlier.
    Sent from store-and-forward once the terminal is back online; the switch posts it."""

    mti: Literal["0220"] = "0220"  # type: ignore[assignment]
    auth_code: AuthCode = Field(alias="38")
    response_code: Literal["Y3"] = Field(default="Y3", alias="39")

    response_mti: ClassVar[str] = "0230"


class _ReferringResponse(IsoMessage):
    processing_code: ProcessingCode | None = Field(default=None, alias="3")
    amount: AmountMinor | None = Field(default=None, alias="4")
    billing_amount: AmountMinor | None = Field(default=None, alias="6")
    """Paid abroad: what the card's account is debited, minor units of DE51."""
    conversion_rate: ConversionRate | None = Field(default=None, alias="10")
    """Paid abroad: the rate DE4 was converted at (wire.protocol.billing)."""
    rrn: Rrn | None = Field(default=None, alias="37")
    response_code: ResponseCode = Field(alias="39")
    additional_response: AdditionalResponse | None = Field(default=None, alias="44")
    original_data: OriginalData | None = Field(default=None, alias="90")


class ReversalResponse(_ReferringResponse):
    """0410 reversal response: 00 once the reversal is recorded (even for an unknown original)."""

    mti: Literal["0410"] = "0410"


class ReversalAdviceResponse(ReversalResponse):
    """0430: the reversal advice is stored (and its hold voided when there is one)."""

    mti: Literal["0430"] = "0430"  # type: ignore[assignment]


class CompletionResponse(_ReferringResponse):
    """0230: 00 when the completion posted; 12 when there is no hold to complete (unknown,
    declined, reversed, expired or already completed), 13 above the hold."""

    mti: Literal["0230"] = "0230"


class NetworkRequest(IsoMessage):
    """0800 network management: sign-on (DE70 001), sign-off (002) or echo (301)."""

    mti: Literal["0800"] = "0800"
    network_code: NetworkCode = Field(alias="70")
    merchant_id: MerchantId | None = Field(default=None, alias="42")
    ksn: HexField | None = Field(default=None, alias="53")
    mac: HexField | None = Field(default=None, alias="64")

    response_mti: ClassVar[str] = "0810"


class NetworkResponse(IsoMessage):
    """0810 network management response."""

    mti: Literal["0810"] = "0810"
    response_code: ResponseCode = Field(alias="39")
    additional_response: AdditionalResponse | None = Field(default=None, alias="44")
    network_code: NetworkCode | None = Field(default=None, alias="70")


class BatchRequest(IsoMessage):
    """0500 batch close (reconciliation request): the terminal's totals for a business day
    (DE15) and, in DE124, its journal so the switch can explain any difference."""

    mti: Literal["0500"] = "0500"
    settlement_date: SettlementDate = Field(alias="15")
    merchant_id: MerchantId = Field(alias="42")
    currency: CurrencyNumeric = Field(alias="49")
    refunds: Count = Field(alias="74")
    sales: Count = Field(alias="76")
    refunds_amount: TotalAmount = Field(alias="86")
    sales_amount: TotalAmount = Field(alias="88")
    batch_number: BatchNumber | None = Field(default=None, alias="60")
    """The terminal's batch number: the same batch closed again gets the same verdict."""
    journal: tuple[JournalLine, ...] = Field(default=(), alias="124", max_length=9999)
    ksn: HexField | None = Field(default=None, alias="53")
    mac: HexField | None = Field(default=None, alias="64")

    response_mti: ClassVar[str] = "0510"


class BatchResponse(IsoMessage):
    """0510: 00 in balance, 95 out of balance (the batch is closed either way); the switch's
    own totals, and in DE124 one explanation per difference."""

    mti: Literal["0510"] = "0510"
    settlement_date: SettlementDate | None = Field(default=None, alias="15")
    response_code: ResponseCode = Field(alias="39")
    additional_response: AdditionalResponse | None = Field(default=None, alias="44")
    refunds: Count | None = Field(default=None, alias="74")
    sales: Count | None = Field(default=None, alias="76")
    refunds_amount: TotalAmount | None = Field(default=None, alias="86")
    sales_amount: TotalAmount | None = Field(default=None, alias="88")
    batch_number: BatchNumber | None = Field(default=None, alias="60")
    differences: tuple[DifferenceLine, ...] | None = Field(default=None, alias="124")


def _request_kind(value: object) -> str | None:
    """The union member a raw request is: its MTI, an 0421 read as an 0420, and an 0220 with
    DE90 a completion, without it an offline advice."""
    raw = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    mti = raw.get("mti")
    if not isinstance(mti, str):
        return None
    if mti == "0421":
        return "0420"
    if mti == "0220":
        named = "90" in raw or "original_data" in raw
        return "0220" if named else "0220-offline"
    return mti


Request = Annotated[
    Annotated[FinancialRequest, Tag("0200")]
    | Annotated[AuthorizationRequest, Tag("0100")]
    | Annotated[ReversalRequest, Tag("0400")]
    | Annotated[ReversalAdvice, Tag("0420")]
    | Annotated[CompletionAdvice, Tag("0220")]
    | Annotated[OfflineAdvice, Tag("0220-offline")]
    | Annotated[NetworkRequest, Tag("0800")]
    | Annotated[BatchRequest, Tag("0500")],
    Discriminator(_request_kind),
]
"""Any message a terminal sends to the switch."""

Response = Annotated[
    FinancialResponse
    | AuthorizationResponse
    | ReversalResponse
    | ReversalAdviceResponse
    | CompletionResponse
    | NetworkResponse
    | BatchResponse,
    Field(discriminator="mti"),
]
"""Any message the switch sends to a terminal."""
