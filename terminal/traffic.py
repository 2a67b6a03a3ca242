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
from cards.holders import Holders, default_holders
from cards.models import Card, CardStatus, Channel
from wire.magic import MagicAmounts
from wire.registry import TerminalProfile

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
    until blocked), ``below-minimum``, ``abroad``, ``no-response``, ``wrong-pin``,
    ``magstripe``, ``keyed``, ``tampered-mac`` (a MAC bit flipped on the way: 63),
    ``cloned-card`` (a copy of the chip replays its counter: the issuer refuses one of the two
    cryptograms that share an ATC, 05)."""
    pin: str
    """The PIN the holder types (the card's own, except for ``wrong-pin``)."""
    entry: str = "chip"
    """How the card is read: ``chip``, ``magstripe`` or ``keyed``."""


def _country(card: Card, cards: CardSet) -> str:
    return cards.products[card.product].country


def _is_everyday(card: Card, cards: CardSet, today: date, holders: Holders) -> bool:
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
        and holders.holder_pin(card.id) == holders.issued_pin(card.id)
        and not holders.has_faulty_chip(card.id)
        and not holders.has_wrong_cvv2(card.id)
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


Item = tuple[str, str, int, str]
"""(TID, card id, amount, intent) before shuffling."""


class _Planner:
    """Draws a plan's items from one seeded RNG, always in the same order."""

    def __init__(
        self, seed: int, *, fleet: list[TerminalProfile], cards: CardSet,
        magic: MagicAmounts | None, today: date, holders: Holders,
    ) -> None:  # fmt: skip
        self.rng = random.Random(seed)  # noqa: S311 - simulation traffic, not cryptography
        self.fleet = fleet
        self.cards = cards
        self.magic = magic
        self.by_country: dict[str, list[TerminalProfile]] = {}
        for profile in fleet:
            self.by_country.setdefault(profile.country.code, []).append(profile)
        self.holders = holders
        self.everyday = [c for c in cards.cards if _is_everyday(c, cards, today, holders)]

    def home(self, card: Card) -> TerminalProfile:
        return self.rng.choice(self.by_country.get(_country(card, self.cards), self.fleet))

    def item(self, card: Card, intent: str, terminal: TerminalProfile | None = None) -> Item:
        terminal = terminal or self.home(card)
        return (terminal.tid, card.id, _amount(self.rng, card, self.cards, self.magic), intent)

    def tour(self) -> list[Item]:
        """Every card once; a holder who types a wrong PIN until the card is blocked, and once
        more."""
        items = []
        for card in self.cards.cards:
            wrong_pin = self.holders.holder_pin(card.id) != self.holders.issued_pin(card.id)
            visits = self.cards.products[card.product].pin_try_limit + 1 if wrong_pin else 1
            items += [self.item(card, "tour") for _ in range(visits)]
        return items

    def specials(self) -> list[Item]:
        """Below minimum, abroad, no response, wrong PIN, magstripe and keyed entries, one
        request whose MAC is tampered with, and one purchase with a cloned chip."""
        rng, everyday = self.rng, self.everyday
        if not everyday:
            return []
        items = []
        card = rng.choice(everyday)
        terminal = self.home(card)
        limits = self.cards.limits(card, Channel.POS)
        if limits is not None and limits.min > 1:
            items.append((terminal.tid, card.id, limits.min // 2, "below-minimum"))
        abroad = [
            c for c in everyday
            if self.cards.products[c.product].domestic_only
            and any(code != _country(c, self.cards) for code in self.by_country)
        ]  # fmt: skip
        if abroad:
            card = rng.choice(abroad)
            foreign = [p for p in self.fleet if p.country.code != _country(card, self.cards)]
            items.append(self.item(card, "abroad", rng.choice(foreign)))
        if self.magic is not None:
            card = rng.choice(everyday)
            terminal = self.home(card)
            amount = self.magic.amount_for(self.magic.no_response, terminal.currency)
            items.append((terminal.tid, card.id, amount, "no-response"))
        for intent in ("wrong-pin", "magstripe", "keyed", "tampered-mac", "cloned-card"):
            items.append(self.item(rng.choice(everyday), intent))
        return items

    def fill(self, items: list[Item], count: int) -> list[Item]:
        """``items`` cut or topped up with everyday purchases to ``count``, then shuffled."""
        items = items[:count]
        while len(items) < count:
            terminal = self.rng.choice(self.fleet)
            local = [c for c in self.everyday if _country(c, self.cards) == terminal.country.code]
            card = self.rng.choice(local or self.everyday or list(self.cards.cards))
            items.append(self.item(card, "everyday", terminal))
        self.rng.shuffle(items)
        return items


def plan_traffic(
    *,
    seed: int,
    count: int,
    fleet: list[TerminalProfile],
    cards: CardSet,
    magic: MagicAmounts | None,
    today: date,
    holders: Holders | None = None,
) -> list[PlannedPurchase]:
    """``count`` purchases over ``fleet`` and ``cards``, identical for identical inputs.

    ``today`` only decides which cards have expired (those are not used as everyday cards).
    """
    if count < 0:
        raise ValueError("the number of transactions cannot be negative")
    if not fleet:
        raise ValueError("a plan needs at least one terminal")
    holders = holders or default_holders()
    planner = _Planner(seed, fleet=fleet, cards=cards, magic=magic, today=today, holders=holders)
    items = planner.fill(planner.tour() + planner.specials(), count)
    plan: list[PlannedPurchase] = []
    for index, (tid, card_id, amount, intent) in enumerate(items):
        pin = holders.holder_pin(card_id)
        if intent == "wrong-pin":
            pin = _wrong(pin)
        entry = intent if intent in ("magstripe", "keyed") else "chip"
        if holders.has_wrong_cvv2(card_id):
            entry = "keyed"  # the printed code only matters when the card is keyed in
        plan.append(PlannedPurchase(index, tid, card_id, amount, intent, pin, entry))
    return plan


def _wrong(pin: str) -> str:
    """Another PIN of the same length (the last digit changed): a holder's typing slip."""
    return pin[:-1] + str((int(pin[-1]) + 1) % 10)
