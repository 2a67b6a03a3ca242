"""What kind of request an 0200 (or 0100) is, by its DE3 and DE22: a purchase, a refund, a
balance inquiry, a purchase with cash-back (its cash in DE54), and the channel it came by."""

from __future__ import annotations

from cards.models import Channel
from switch.security.checks import ECOMMERCE_MODE
from wire.protocol.amounts import CASH_BACK, AdditionalAmount, amount_of
from wire.protocol.messages import FinancialRequest

__all__ = [
    "BALANCE_INQUIRY_PREFIX",
    "CASH_BACK_PREFIX",
    "PURCHASE",
    "REFUND_PREFIX",
    "cash_back_of",
    "is_balance_inquiry",
    "is_refund",
    "request_channel",
]

PURCHASE = "000000"
REFUND_PREFIX = "20"
"""DE3 of a refund (credit to the cardholder): 20 followed by the account types."""
CASH_BACK_PREFIX = "09"
"""DE3 of a purchase with cash-back: DE4 is the whole, DE54 the cash part."""
BALANCE_INQUIRY_PREFIX = "31"
"""DE3 of a balance inquiry: DE4 zero, the balance comes back in DE54."""


def request_channel(request: FinancialRequest) -> Channel:
    """The channel of ``request``, by its entry mode (DE22): e-commerce (``81x``, card not
    present on the internet) or POS (every other mode: a TPE)."""
    return Channel.ECOMMERCE if request.entry_mode[:2] == ECOMMERCE_MODE else Channel.POS


def is_refund(request: FinancialRequest) -> bool:
    """True for an 0200 that credits the cardholder (DE3 20xxxx); never for an 0100."""
    return request.mti == "0200" and request.processing_code.startswith(REFUND_PREFIX)


def is_balance_inquiry(request: FinancialRequest) -> bool:
    """True for an 0200 asking the card's balance (DE3 31xxxx); nothing is held."""
    return request.mti == "0200" and request.processing_code.startswith(BALANCE_INQUIRY_PREFIX)


def cash_back_of(request: FinancialRequest) -> AdditionalAmount | None:
    """The cash part of a purchase with cash-back (DE3 09xxxx, DE54 amount type 40)."""
    if request.mti != "0200" or not request.processing_code.startswith(CASH_BACK_PREFIX):
        return None
    return amount_of(request.additional_amounts, CASH_BACK)
