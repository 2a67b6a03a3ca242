"""The merchant (ECR) API's request and response bodies: what a cash register sends to start a
payment on a terminal, and what it gets back. Amounts are integer minor units of an ISO 4217
currency (DZD centimes, MAD centimes, TND millimes), never decimals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from cards.currency import MAX_MINOR

__all__ = [
    "BalanceInquiry",
    "BalanceInquiryRequest",
    "BatchResult",
    "CompletionRequest",
    "Payment",
    "PaymentRequest",
    "Problem",
    "RefundRequest",
    "TerminalInfo",
    "payment_status",
]

PaymentStatus = Literal[
    "approved", "declined", "timeout", "approved_offline", "declined_offline", "cancelled"
]
_DECIDED: dict[str, PaymentStatus] = {
    "00": "approved",
    "Y3": "approved_offline",
    "Z3": "declined_offline",
}


def payment_status(code: str | None) -> PaymentStatus:
    """The status DE39 ``code`` gives a payment (None: no answer in time)."""
    return _DECIDED.get(code, "declined") if code else "timeout"


Minor = Annotated[int, Field(strict=True, gt=0, le=MAX_MINOR)]
"""An amount a client sends: a JSON integer of minor units, above 0. Strict: ``"15.00"``,
``1500.0``, ``1e3`` and ``true`` are refused (422 naming the field), never coerced."""


class _Body(BaseModel):
    """A request body: unknown fields refused, optional ones left out rather than null."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        """Optional fields are left out, never null (as the schema says): a null is refused
        here, before a constraint meant for the field's string could meet it."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if field.default is None and name in data and data[name] is None:
                    raise ValueError(f"{name} must be left out, not null")
        return data


class PaymentRequest(_Body):
    """Start a payment on a terminal: the amount, and the card a test presents."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["card_id"]}, {"required": ["pan"]}]},
    )

    amount_minor: Minor = Field(description="Amount in minor units of `currency`.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code; the terminal's own.")
    card_id: str | SkipJsonSchema[None] = Field(
        default=None, max_length=40, pattern=r"^[A-Z0-9-]+$",
        description="A test card (`tpesim cards list`), e.g. EDH-VALID; or give `pan`.",
    )  # fmt: skip
    pan: str | SkipJsonSchema[None] = Field(
        default=None, pattern=r"^[0-9]{13,19}$", description="PAN of a test card (or `card_id`)."
    )
    pin: str | SkipJsonSchema[None] = Field(
        default=None, pattern=r"^[0-9]{4,12}$",
        description="The PIN the holder types; default: the holder's own.",
    )  # fmt: skip
    entry: Literal["chip", "magstripe", "keyed", "ecommerce"] = Field(
        default="chip",
        description="How the card is read; `ecommerce`: a web shop's payment page (CVV2, no "
        "PIN), e.g. on FRWB0001, a shop abroad paid in euros.",
    )
    preauth: bool = Field(default=False, strict=True, description="Only reserve the amount (0100).")
    cash_back_minor: Minor | SkipJsonSchema[None] = Field(
        default=None,
        description="Cash handed over too (DE3 09), minor units; the card is charged "
        "`amount_minor` + this. Not with `preauth`.",
    )  # fmt: skip
    idempotency_key: str = Field(
        min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
        description="Your key for this payment: sent again, the same payment comes back.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_card(self) -> PaymentRequest:
        if (self.card_id is None) == (self.pan is None):
            raise ValueError("give exactly one of card_id and pan")
        if self.preauth and self.cash_back_minor is not None:
            raise ValueError("cash_back_minor does not go with preauth")
        if self.amount_minor + (self.cash_back_minor or 0) > MAX_MINOR:
            raise ValueError(f"amount_minor + cash_back_minor is above {MAX_MINOR} (12 digits)")
        return self


class BalanceInquiryRequest(_Body):
    """Ask a test card's available balance at a terminal (DE3 31)."""

    card_id: str = Field(
        max_length=40, pattern=r"^[A-Z0-9-]+$", description="A test card, e.g. EDH-NO-FUNDS."
    )
    pin: str | SkipJsonSchema[None] = Field(
        default=None, pattern=r"^[0-9]{4,12}$",
        description="The PIN the holder types; default: the holder's own.",
    )  # fmt: skip


class BalanceInquiry(BaseModel):
    """The answer to a balance inquiry, with the receipt the terminal printed."""

    terminal_id: str
    response_code: str | None = Field(description="DE39; null when no answer came in time.")
    meaning: str
    available_minor: int | None = Field(
        description="The available balance, minor units of `currency` (null unless approved)."
    )
    currency: str
    masked_pan: str
    receipt: str


class RefundRequest(_Body):
    """Refund a payment, in full (no amount) or in part."""

    amount_minor: Minor | None = Field(default=None)
    idempotency_key: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")


class CompletionRequest(_Body):
    """Complete a pre-authorization for at most its amount."""

    amount_minor: Minor


class Payment(BaseModel):
    """A payment as the terminal saw it, with the receipt it printed."""

    id: str
    terminal_id: str
    kind: Literal["purchase", "preauth", "refund"]
    cash_back_minor: int | None = Field(
        default=None, description="The cash handed over with the purchase, part of `amount_minor`."
    )
    status: PaymentStatus
    response_code: str | None = Field(description="DE39; null when no answer came in time.")
    meaning: str = Field(description="What the response code means, in English.")
    reason: str | None = Field(
        default=None,
        description="Why the switch answered so, when it said (DE44, e.g. `over what the sale "
        "left`, `blocked by issuer`).",
    )
    amount_minor: int
    currency: str
    stan: int
    rrn: str | None = None
    auth_code: str | None = None
    reversal: str | None = Field(
        default=None, description="After a timeout: `acknowledged` or `unresolved` (queued)."
    )
    masked_pan: str
    receipt: str
    refund_of: str | None = None
    billed_minor: int | None = Field(
        default=None,
        description="Paid abroad: what the card's account was debited (DE6), minor units of "
        "`billed_currency`.",
    )
    billed_currency: str | None = Field(
        default=None, description="Paid abroad: the card account's ISO 4217 code."
    )


class TerminalInfo(BaseModel):
    """A terminal the API drives."""

    id: str
    merchant: str
    city: str
    currency: str
    currency_decimals: int
    """Decimals of the currency: ``amount_minor`` 150000 is 1 500,00 DZD (2) or 150,000 TND (3)."""
    connected: bool


class BatchResult(BaseModel):
    """The switch's answer to a batch close (0510)."""

    terminal_id: str
    batch_number: int | None = Field(
        default=None, description="The batch this close closed (DE60); the next one is one up."
    )
    response_code: str
    in_balance: bool
    sales: int
    sales_amount_minor: int
    refunds: int
    refunds_amount_minor: int
    differences: list[str]


_TYPE_TAGS = frozenset({"int", "constrained-int", "str", "constrained-str", "bool", "none"})
"""What pydantic adds to an error's location inside a union (``cash_back_minor.int``)."""


class Problem(BaseModel):
    """An error, as RFC 9457 problem details; ``field`` names the request field at fault."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None

    @classmethod
    def invalid_request(cls, errors: Sequence[Mapping[str, Any]]) -> Problem:
        """422 for a body (or path) that does not validate: the first error's message, and the
        field it names (dotted, without the leading ``body`` nor the type a union member tags
        it with; none for JSON that does not parse, whose location is a character offset)."""
        first = errors[0] if errors else {}
        where = [str(part) for part in first.get("loc", ())
                 if part != "body" and str(part) not in _TYPE_TAGS]  # fmt: skip
        if first.get("type") == "json_invalid":
            where = []
        return cls(title="invalid request", status=422, detail=str(first.get("msg", "invalid")),
                   field=".".join(where) or None)  # fmt: skip
