"""Seeded purchase traffic for a fleet (pure): which terminal, which card, what amount.

The plan is fixed before anything runs, from the seed alone. It first visits every card of
the set once at a terminal of the card's country (so every outcome the card set can produce
appears), adds a purchase below the product minimum, a domestic card used abroad and a magic
"no response" amount, then fills the rest with everyday purchases, and shuffles the lot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from cards.catalog import CardSet
from cards.currency import currency
from cards.holders import has_faulty_chip, holder_pin, issued_pin
from cards.models import Card, CardStatus, Channel
from switch.magic import MagicAmounts
from switch.registry import TerminalProfile

__all__ = ["PlannedPurchase", "plan_traffic"]


@dataclass(frozen=True, slots=True)
class PlannedPurchase:
    """One purchase to run: plan position, terminal, card and amount (terminal currency)."""

    index: int
    tid: str
    card_id: str
    amount: int
    intent: str
    """Why the plan contains it: ``everyday``, ``tour`` (each test card; a wrong-PIN holder
    until blocked), ``below-minimum``, ``abroad``, ``no-response``, ``wrong-pin``."""
    pin: str
    """The PIN the holder types (the card's own, except for ``wrong-pin``)."""


def _country(card: Card, cards: CardSet) -> str:
    return cards.products[card.product].country


def _is_everyday(card: Card, cards: CardSet, today: date) -> bool:
    """A card a normal shopper would use: on file, active, valid today, POS-enabled, no test
    quirk, and an account holding at least 1 000 major units."""
    account = cards.accounts[card.account]
    return (
        card.on_file
        and card.status is CardStatus.ACTIVE
        and card.last_valid_day >= today
        and card.presented_expiry is None
        and not card.limits
        and card.channels is None
        and Channel.POS in cards.channels(card)
        and account.balance >= 1000 * currency(account.currency).unit
        and holder_pin(card.id) == issued_pin(card.id)
        and not has_faulty_chip(card.id)
    )


def _amount(rng: random.Random, card: Card, cards: CardSet, magic: MagicAmounts | None) -> int:
    """An everyday amount for ``card``: log-spread between twice the product's POS minimum and
    a tenth of its per-transaction limit, in whole or half units, never a magic amount."""
    limits = cards.limits(card, Channel.POS)
    unit = currency(cards.accounts[card.account].currency).unit
    low = max(unit, 2 * limits.min) if limits else unit
    high = max(low + unit, limits.per_transaction // 10) if limits else 1000 * unit
    while True:
        amount = int(low * (high / low) ** rng.random())
        amount -= amount % (unit // 2 or 1)
        if magic is None or amount // unit != magic.trigger_major:
            return amount


def plan_traffic(
    *,
    seed: int,
    count: int,
    fleet: list[TerminalProfile],
    cards: CardSet,
    magic: MagicAmounts | None,
    today: date,
) -> list[PlannedPurchase]:
    """``count`` purchases over ``fleet`` and ``cards``, identical for identical inputs.

    ``today`` only decides which cards have expired (those are not used as everyday cards).
    """
    if count < 0:
        raise ValueError("the number of transactions cannot be negative")
    if not fleet:
        raise ValueError("a plan needs at least one terminal")
    rng = random.Random(seed)  # noqa: S311 - simulation traffic, not cryptography
    by_country: dict[str, list[TerminalProfile]] = {}
    for profile in fleet:
        by_country.setdefault(profile.country.code, []).append(profile)

    def home_terminal(card: Card) -> TerminalProfile:
        return rng.choice(by_country.get(_country(card, cards), fleet))

    everyday = [c for c in cards.cards if _is_everyday(c, cards, today)]
    items: list[tuple[str, str, int, str]] = []
    for card in cards.cards:
        # A holder who types a wrong PIN comes back until the card is blocked, and once more.
        wrong_pin = holder_pin(card.id) != issued_pin(card.id)
        visits = cards.products[card.product].pin_try_limit + 1 if wrong_pin else 1
        for _ in range(visits):
            terminal = home_terminal(card)
            items.append((terminal.tid, card.id, _amount(rng, card, cards, magic), "tour"))
    if everyday:
        card = rng.choice(everyday)
        terminal = home_terminal(card)
        limits = cards.limits(card, Channel.POS)
        if limits is not None and limits.min > 1:
            items.append((terminal.tid, card.id, limits.min // 2, "below-minimum"))
        abroad = [
            c
            for c in everyday
            if cards.products[c.product].domestic_only
            and any(code != _country(c, cards) for code in by_country)
        ]
        if abroad:
            card = rng.choice(abroad)
            foreign = [p for p in fleet if p.country.code != _country(card, cards)]
            terminal = rng.choice(foreign)
            items.append((terminal.tid, card.id, _amount(rng, card, cards, magic), "abroad"))
        if magic is not None:
            card = rng.choice(everyday)
            terminal = home_terminal(card)
            amount = magic.amount_for(magic.no_response, terminal.currency)
            items.append((terminal.tid, card.id, amount, "no-response"))
        card = rng.choice(everyday)
        items.append((home_terminal(card).tid, card.id, _amount(rng, card, cards, magic),
                      "wrong-pin"))  # fmt: skip
    items = items[:count]
    while len(items) < count:
        terminal = rng.choice(fleet)
        local = [c for c in everyday if _country(c, cards) == terminal.country.code]
        card = rng.choice(local or everyday or list(cards.cards))
        items.append((terminal.tid, card.id, _amount(rng, card, cards, magic), "everyday"))
    rng.shuffle(items)
    plan: list[PlannedPurchase] = []
    for index, (tid, card_id, amount, intent) in enumerate(items):
        pin = holder_pin(card_id)
        if intent == "wrong-pin":
            pin = _wrong(pin)
        plan.append(PlannedPurchase(index, tid, card_id, amount, intent, pin))
    return plan


def _wrong(pin: str) -> str:
    """Another PIN of the same length (the last digit changed): a holder's typing slip."""
    return pin[:-1] + str((int(pin[-1]) + 1) % 10)
