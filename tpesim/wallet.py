"""The cardholders' side: each card's chip, personalized by the card bureau.

In the simulation the bureau asks the security module for each chip's ICC master key (as a real
personalization bureau would under the issuer's keys) and computes what the plastic carries
(track 2 with its CVV, the printed CVV2). Chip counters persist through ``tpesim.state``.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Protocol

from cards.catalog import CardSet
from cards.chip import Chip, Plastic
from cards.crypto.cvv import CVV2_SERVICE_CODE
from cards.holders import Holders, default_holders
from switch.security import SecurityModule

__all__ = ["SharedCounters", "Wallet"]


class SharedCounters(Protocol):
    """Chip counters kept outside the process (tpesim.state.DeviceState)."""

    def next_atc(self, card_id: str, current: int) -> int: ...

    def card_in_reader(self, card_id: str) -> AbstractAsyncContextManager[None]: ...


class Wallet:
    """Chips by card id, created on first use; ``counters`` holds their ATCs across runs, and
    ``shared`` (a state file other processes use too) gives each cryptogram its counter."""

    def __init__(
        self,
        cards: CardSet,
        bureau: SecurityModule,
        counters: dict[str, int] | None = None,
        holders: Holders | None = None,
        shared: SharedCounters | None = None,
    ) -> None:
        self._cards = cards
        self._holders = holders or default_holders()
        self._bureau = bureau
        self._chips: dict[str, Chip] = {}
        self._counters = counters if counters is not None else {}
        self._shared = shared

    def __repr__(self) -> str:
        return f"<Wallet {len(self._chips)} chips>"

    def chip(self, card_id: str) -> Chip:
        """The chip of card ``card_id``."""
        chip = self._chips.get(card_id)
        if chip is None:
            card = self._cards.card(card_id)
            issuer = self._cards.products[card.product].issuer
            # A faulty chip was personalized for the wrong sequence number: its cryptograms
            # never verify at the issuer.
            psn = card.psn + 1 if self._holders.has_faulty_chip(card_id) else card.psn
            master_key = self._bureau.personalize_chip(issuer, card.pan, psn)
            counter = None
            if self._shared is not None:
                counter = partial(self._shared.next_atc, card_id)
            chip = Chip(card.pan, card.psn, master_key, atc=self._counters.get(card_id, 0),
                        counter=counter)  # fmt: skip
            self._chips[card_id] = chip
        return chip

    def clone(self, card_id: str) -> Chip:
        """A copy of the card's chip taken one transaction ago (a skimmed, cloned card): its
        next cryptogram reuses the genuine card's last counter, or the genuine card's next one
        reuses the clone's."""
        genuine = self.chip(card_id)
        return Chip(genuine.pan, genuine.psn, genuine.master_key, atc=max(genuine.atc - 1, 0))

    def remember(self) -> None:
        """Copy the chips' counters back into ``counters`` (e.g. a :class:`DeviceState`)."""
        self._counters.update({card_id: chip.atc for card_id, chip in self._chips.items()})

    def in_reader(self, card_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the card for one transaction against other processes sharing its counter
        (nothing to hold when the counters are this process's alone)."""
        if self._shared is None:
            return contextlib.nullcontext()
        return self._shared.card_in_reader(card_id)

    def plastic(self, card_id: str) -> Plastic:
        """What the card's plastic carries besides the chip: track 2 and the printed CVV2."""
        card = self._cards.card(card_id)
        issuer = self._cards.products[card.product].issuer
        cvv = self._bureau.card_verification_value
        track_cvv = cvv(issuer, card.pan, card.expiry_yymm, card.service_code)
        cvv2 = cvv(issuer, card.pan, card.expiry_yymm, CVV2_SERVICE_CODE)
        if self._holders.has_wrong_cvv2(card_id):
            cvv2 = cvv2[:-1] + str((int(cvv2[-1]) + 1) % 10)
        pvv = card.pvv or "0000"
        track2 = f"{card.pan}={card.presented_yymm}{card.service_code}1{pvv}{track_cvv}00"
        return Plastic(track2=track2, cvv2=cvv2)
