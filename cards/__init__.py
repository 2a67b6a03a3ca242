"""Card domain: card and product records, holders, currencies and exchange rates, Luhn, PAN
masking, the chip's EMV application (``chip``), merchant QR codes (``qr``) and the card
cryptography (``crypto``).

Pure and synchronous; imports nothing from ``switch``, ``terminal`` or ``tpesim``.
"""

from cards.catalog import CardSet, CardSetError, default_card_set, load_card_set
from cards.currency import (
    Country,
    Currency,
    country,
    country_by_numeric,
    currency,
    currency_by_numeric,
    format_amount,
    parse_amount,
)
from cards.luhn import is_valid_pan_format, luhn_check_digit, luhn_is_valid
from cards.masking import PanMaskingFilter, mask_pan, mask_pans_in_text
from cards.models import (
    Account,
    Card,
    CardProduct,
    CardStatus,
    Channel,
    ChannelLimits,
    FxAllowance,
    LimitOverride,
)

__all__ = [
    "Account",
    "Card",
    "CardProduct",
    "CardSet",
    "CardSetError",
    "CardStatus",
    "Channel",
    "ChannelLimits",
    "Country",
    "Currency",
    "FxAllowance",
    "LimitOverride",
    "PanMaskingFilter",
    "country",
    "country_by_numeric",
    "currency",
    "currency_by_numeric",
    "default_card_set",
    "format_amount",
    "is_valid_pan_format",
    "load_card_set",
    "luhn_check_digit",
    "luhn_is_valid",
    "mask_pan",
    "mask_pans_in_text",
    "parse_amount",
]
