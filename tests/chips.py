"""Chip reads for tests that build requests by hand: DE55 with a genuine ARQC from the card's
own chip, as a terminal's reader gives it (the switch refuses a chip read without DE55, 30)."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from cards import default_card_set
from cards.chip import Chip
from cards.crypto import tlv
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation, RequestBuilder
from tpesim.wallet import Wallet
from wire.protocol.messages import FinancialRequest

_WALLET = Wallet(default_card_set(), SecurityModule(load_keys()))
_UNPREDICTABLE = count(1)


def chip_data(build: RequestBuilder, card: CardPresentation, amount: int, now: datetime) -> str:
    """DE55 for a chip read of ``card`` for ``amount`` minor units (the counter advances)."""
    assert card.card_id is not None, "a chip read needs the card's id to find its chip"
    data = build.terminal_data(amount, now, next(_UNPREDICTABLE).to_bytes(4, "big"))
    return tlv.encode(_WALLET.chip(card.card_id).generate_arqc(data)).hex().upper()


def chip_purchase(
    build: RequestBuilder, card: CardPresentation, amount: int, now: datetime, **fields: Any
) -> FinancialRequest:
    """``build.purchase`` of a chip read: the same request with the card's DE55."""
    total = amount + int(fields.get("cash_back", 0))
    return build.purchase(card, amount, now, icc_data=chip_data(build, card, total, now), **fields)


def chip_of(card: CardPresentation) -> Chip:
    """The chip of ``card`` (one per card for the whole test process: its counter only rises)."""
    assert card.card_id is not None, "a chip read needs the card's id to find its chip"
    return _WALLET.chip(card.card_id)
