"""Card payments abroad (pure): a card paying a merchant in another currency than its account's.

Only a card whose product has a foreign-currency allowance (cards.models.FxAllowance) may, on
the allowance's channels, for a sale (or a balance inquiry, which moves nothing), at a rate the
exchange table quotes (cards.fx). The amount checks then run on DE4 converted into the card's
currency (:func:`billed_amount`), and the allowance bounds the period's total
(switch.rules.authorization). A domestic-only card was already declined 62 abroad.
"""

from __future__ import annotations

from cards.currency import currency_by_numeric
from cards.fx import FxRates
from cards.models import Channel, FxAllowance
from wire.protocol.messages import FinancialRequest

__all__ = ["abroad_refusal", "billed_amount"]


def billed_amount(request: FinancialRequest, account_currency: str, fx: FxRates | None) -> int:
    """DE4 in minor units of the card account's currency: converted at ``fx``'s rate when the
    merchant's currency is another (KeyError when there is no rate)."""
    tx_currency = currency_by_numeric(request.currency)
    if tx_currency is None or tx_currency.code == account_currency:
        return request.amount
    if fx is None:
        raise KeyError(f"no exchange rates to convert {tx_currency.code}")
    return fx.convert(request.amount, tx_currency.code, account_currency)


def abroad_refusal(
    request: FinancialRequest,
    allowance: FxAllowance | None,
    *,
    channel: Channel,
    account_currency: str,
    fx: FxRates | None,
    kind: str,
) -> tuple[str, str] | None:
    """Why ``request``, in another currency than the card account's, is refused 57 (DE39,
    reason): the card has no foreign-currency allowance, or not on ``channel``, the request
    is no sale (``kind``: ``sale``, ``inquiry`` or another), or there is no rate; None when
    it may go on to the amount checks."""
    if allowance is None:
        return "57", "foreign currency"
    if channel not in allowance.channels:
        return "57", f"no FX allowance {channel.value}"[:25]
    if kind == "inquiry":
        return None
    if kind != "sale":
        return "57", "abroad: sales only"
    tx_currency = currency_by_numeric(request.currency)
    if fx is None or tx_currency is None:
        return "57", "no exchange rate"
    if not (fx.quotes(tx_currency.code) and fx.quotes(account_currency)):
        return "57", "no exchange rate"
    return None
