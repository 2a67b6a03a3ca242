"""The card set: products, cards and accounts loaded from a YAML data file.

The default set ships in ``cards/data``; ``load_card_set(path)`` loads another one. Adding a card
or a product is a data edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cards.currency import currency
from cards.models import Account, Card, CardProduct, Channel, ChannelLimits

__all__ = ["CardSet", "CardSetError", "default_card_set", "load_card_set"]


class CardSetError(ValueError):
    """A card-set data file is inconsistent; the message names the file and the record."""


@dataclass(frozen=True)
class CardSet:
    """Products, cards and accounts, with lookups by PAN, BIN and id."""

    products: dict[str, CardProduct]
    cards: tuple[Card, ...]
    accounts: dict[str, Account]
    _by_pan: dict[str, Card] = field(init=False, repr=False, compare=False)
    _by_id: dict[str, Card] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_pan", {c.pan: c for c in self.cards if c.on_file})
        object.__setattr__(self, "_by_id", {c.id: c for c in self.cards})

    def card(self, card_id: str) -> Card:
        """The card with id ``card_id`` (``"EDH-VALID"``), on file or not."""
        try:
            return self._by_id[card_id]
        except KeyError:
            raise KeyError(f"no card with id {card_id!r}") from None

    def issuer_card(self, pan: str) -> Card | None:
        """The card the issuer has on file for ``pan``, or None."""
        return self._by_pan.get(pan)

    def product_for_pan(self, pan: str) -> CardProduct | None:
        """The product whose BIN is the longest prefix of ``pan``, or None (unroutable)."""
        best: CardProduct | None = None
        best_len = 0
        for product in self.products.values():
            for bin_ in product.bins:
                if pan.startswith(bin_) and len(bin_) > best_len:
                    best, best_len = product, len(bin_)
        return best

    def limits(self, card: Card, channel: Channel) -> ChannelLimits | None:
        """Effective limits of ``card`` on ``channel``: product limits with card overrides."""
        base = self.products[card.product].limits.get(channel)
        if base is None:
            return None
        override = card.limits.get(channel)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))

    def channels(self, card: Card) -> frozenset[Channel]:
        """Channels ``card`` may be used on (its own list, else its product's)."""
        return card.channels if card.channels is not None else self.products[card.product].channels


def _load_yaml(text: str, origin: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise CardSetError(f"{origin}: expected a mapping at the top level")
    return data


def _build(products_raw: dict[str, Any], cards_raw: dict[str, Any], origin: str) -> CardSet:
    try:
        products = {p["id"]: CardProduct.model_validate(p) for p in products_raw["products"]}
        accounts = {a["id"]: Account.model_validate(a) for a in cards_raw["accounts"]}
        cards = tuple(Card.model_validate(c) for c in cards_raw["cards"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise CardSetError(f"{origin}: {exc}") from None
    for product in products.values():
        currency(product.currency)
    seen: set[str] = set()
    for card in cards:
        if card.product not in products:
            raise CardSetError(f"{origin}: card {card.id} names unknown product {card.product}")
        if card.account not in accounts:
            raise CardSetError(f"{origin}: card {card.id} names unknown account {card.account}")
        if accounts[card.account].currency != products[card.product].currency:
            raise CardSetError(f"{origin}: card {card.id}: account currency differs from product")
        if card.id in seen:
            raise CardSetError(f"{origin}: duplicate card id {card.id}")
        seen.add(card.id)
    return CardSet(products=products, cards=cards, accounts=accounts)


@cache
def default_card_set() -> CardSet:
    """The shipped card set (``cards/data/products.yaml`` and ``cards.yaml``)."""
    data = resources.files("cards.data")
    products = _load_yaml(data.joinpath("products.yaml").read_text("utf-8"), "products.yaml")
    cards = _load_yaml(data.joinpath("cards.yaml").read_text("utf-8"), "cards.yaml")
    return _build(products, cards, "cards/data")


def load_card_set(path: Path | None = None) -> CardSet:
    """Load a card set file holding ``accounts`` and ``cards`` (and optionally ``products``).

    Without ``products`` in the file, the shipped products are used. ``None`` → the default set.
    """
    if path is None:
        return default_card_set()
    raw = _load_yaml(path.read_text("utf-8"), str(path))
    if "products" in raw:
        products_raw = raw
    else:
        text = resources.files("cards.data").joinpath("products.yaml").read_text("utf-8")
        products_raw = _load_yaml(text, "products.yaml")
    return _build(products_raw, raw, str(path))
