"""What ``tpesim demo`` does after its seeded purchases, beside the TPEs' batch close: a
BaridiPay-style QR payment from a wallet app (one paid, one under the minimum), and a card
paying a web shop abroad within its foreign-currency allowance (one paid, one over it)."""

from __future__ import annotations

import asyncio
import logging

from cards.catalog import CardSet
from cards.fx import FxRates
from cards.models import Card, Channel
from switch.rules.authorization import card_standing
from switch.security import SecurityModule
from terminal.builder import CardPresentation
from terminal.shell.tpe import Terminal, TransactionOutcome
from tpesim.baridi import DEMO_WALLET, WalletApp
from tpesim.wallet import Wallet
from wire.clock import Clock
from wire.protocol.wallet import QrPaymentResult
from wire.transport.base import BrokerUrl
from wire.transport.url import NoLoginError

__all__ = ["abroad_card", "abroad_payments", "has_login", "qr_card", "qr_payments"]

log = logging.getLogger("tpesim.demo")


def qr_card(cards: CardSet, terminal: Terminal, clock: Clock) -> Card | None:
    """Whose wallet pays the demo's QR codes: of the cards that can pay by QR in the terminal's
    currency now, the one whose account opened richest (EDH-VALID-3 in the shipped set)."""
    candidates = [
        card
        for card in cards.cards
        if Channel.QR in cards.channels(card)
        and card.on_file
        and cards.accounts[card.account].currency == terminal.profile.currency.code
        and card_standing(card, cards.products[card.product], clock.now()) is None
    ]
    return max(candidates, key=lambda c: cards.accounts[c.account].balance, default=None)


async def qr_payments(
    terminal: Terminal, broker: BrokerUrl, cards: CardSet, security: SecurityModule, clock: Clock
) -> list[QrPaymentResult]:
    """After the purchases, the first terminal shows a QR code for 1 500 (major units) and a
    wallet app pays it, then a static code paid 50 (under Edahabia's 100 DA minimum: 13). None
    when no card of the set can pay by QR here, or the broker has no login for the demo's
    wallet (an access file of your own)."""
    card = qr_card(cards, terminal, clock)
    if card is None:
        log.warning("demo: no QR payments: no card of the set can pay by QR at %s", terminal.tid)
        return []
    try:
        app = WalletApp(DEMO_WALLET, card.pan, broker, cards=cards, security=security,
                        clock=clock)  # fmt: skip
    except NoLoginError as error:
        log.warning("demo: no QR payments: %s", error)
        return []
    async with app:
        dynamic, code = terminal.show_qr(150_000)
        waiting = asyncio.create_task(terminal.qr_paid(code, timeout_s=10))
        paid = await app.pay(dynamic)
        if paid.paid:
            await waiting  # the terminal's receipt
        else:
            waiting.cancel()
        static, _ = terminal.show_qr()
        refused = await app.pay(static, 5_000)
    return [paid, refused]


def has_login(url: BrokerUrl, tid: str) -> bool:
    """Whether ``url``'s access file (if any) has a login for terminal ``tid``; warns if not."""
    try:
        url.login_as(tid)
    except NoLoginError as error:
        log.warning("demo: no payment abroad: %s", error)
        return False
    return True


def abroad_card(cards: CardSet, shop: Terminal, clock: Clock, fx: FxRates) -> Card | None:
    """Who pays the demo's web shop abroad: the first card of the set with a foreign-currency
    allowance for e-commerce, in another currency than the shop's, at a quoted rate (MA-INTL in
    the shipped set)."""
    shop_currency = shop.profile.currency.code
    for card in cards.cards:
        product = cards.products[card.product]
        allowance = product.fx_allowance
        account_currency = cards.accounts[card.account].currency
        if (
            allowance is not None
            and Channel.ECOMMERCE in allowance.channels
            and Channel.ECOMMERCE in cards.channels(card)
            and card.on_file
            and account_currency != shop_currency
            and fx.quotes(account_currency)
            and fx.quotes(shop_currency)
            and card_standing(card, product, clock.now()) is None
        ):
            return card
    return None


async def abroad_payments(
    shop: Terminal, cards: CardSet, wallet: Wallet, clock: Clock, fx: FxRates
) -> tuple[Card | None, list[TransactionOutcome]]:
    """The web shop's payment page takes 19,99 (its currency) from a card paying abroad, then
    what is left of the card's allowance and a hundredth of it more, within the card's
    per-transaction limit: 00, then 61 (over the allowance). No payments when no card of the
    set can pay abroad."""
    card = abroad_card(cards, shop, clock, fx)
    if card is None:
        log.warning("demo: no payment abroad: no card of the set has an allowance for %s",
                    shop.tid)  # fmt: skip
        return None, []
    allowance = cards.products[card.product].fx_allowance
    assert allowance is not None
    account_currency = cards.accounts[card.account].currency
    shop_currency = shop.profile.currency
    presentation = CardPresentation.from_card(card, cards)
    plastic = wallet.plastic(card.id)
    first = 1_999 * shop_currency.unit // 100
    paid = await shop.purchase(presentation, first, entry="ecommerce", plastic=plastic)
    left = allowance.amount - (paid.billed or 0)
    limits = cards.limits(card, Channel.ECOMMERCE)
    most = limits.per_transaction if limits else allowance.amount
    target = min(most, left + allowance.amount // 100)  # the card's currency
    if target <= left:
        return card, [paid]  # no single payment can go over what is left
    beyond = fx.convert(target, account_currency, shop_currency.code)
    over = await shop.purchase(presentation, beyond, entry="ecommerce", plastic=plastic)
    return card, [paid, over]
