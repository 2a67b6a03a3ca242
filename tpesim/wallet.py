"""The cardholders' side: each card's chip, personalized by the card bureau.

In the simulation the bureau asks the security module for each chip's ICC master key (as a real
personalization bureau would under the issuer's keys). A chip's application transaction counter
lives with the chip: in memory for a demo, or in a small JSON state file so that repeated
``tpesim terminal`` runs keep counting like a real card (an ATC that goes back is a replay).
"""

from __future__ import annotations

import json
from pathlib import Path

from cards.catalog import CardSet
from cards.chip import Chip, Plastic
from cards.crypto.cvv import CVV2_SERVICE_CODE
from cards.holders import has_faulty_chip, has_wrong_cvv2
from switch.security import SecurityModule

__all__ = ["Wallet"]


class Wallet:
    """Chips by card id, created on first use; ``state_file`` persists their counters."""

    def __init__(
        self, cards: CardSet, bureau: SecurityModule, state_file: Path | None = None
    ) -> None:
        self._cards = cards
        self._bureau = bureau
        self._chips: dict[str, Chip] = {}
        self._state_file = state_file
        self._saved: dict[str, int] = {}
        if state_file is not None and state_file.exists():
            self._saved = {str(k): int(v) for k, v in json.loads(state_file.read_text()).items()}

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
            psn = card.psn + 1 if has_faulty_chip(card_id) else card.psn
            master_key = self._bureau.personalize_chip(issuer, card.pan, psn)
            chip = Chip(card.pan, card.psn, master_key, atc=self._saved.get(card_id, 0))
            self._chips[card_id] = chip
        return chip

    def save(self) -> None:
        """Write the counters to the state file (when there is one)."""
        if self._state_file is None:
            return
        counters = self._saved | {card_id: chip.atc for card_id, chip in self._chips.items()}
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps(counters, indent=1, sort_keys=True))

    def plastic(self, card_id: str) -> Plastic:
        """What the card's plastic carries besides the chip: track 2 and the printed CVV2."""
        card = self._cards.card(card_id)
        issuer = self._cards.products[card.product].issuer
        cvv = self._bureau.card_verification_value
        track_cvv = cvv(issuer, card.pan, card.expiry_yymm, card.service_code)
        cvv2 = cvv(issuer, card.pan, card.expiry_yymm, CVV2_SERVICE_CODE)
        if has_wrong_cvv2(card_id):
            cvv2 = cvv2[:-1] + str((int(cvv2[-1]) + 1) % 10)
        pvv = card.pvv or "0000"
        track2 = f"{card.pan}={card.presented_yymm}{card.service_code}1{pvv}{track_cvv}00"
        return Plastic(track2=track2, cvv2=cvv2)
