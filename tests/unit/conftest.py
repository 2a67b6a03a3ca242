"""Fixtures of the unit tests: a switch processor on a real SQLite ledger, without a broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards import default_card_set
from switch import Processor
from switch.ledger import Ledger
from wire import ManualClock, default_registry, magic_amounts


@pytest.fixture
async def processor(tmp_path: Path) -> AsyncIterator[Processor]:
    """A processor of the shipped cards and terminals, its clock stopped at 2026-11-23 13:00 UTC."""
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    cards = default_card_set()
    async with await Ledger.open(tmp_path / "ledger.db", cards, clock) as ledger:
        yield Processor(ledger=ledger, cards=cards, registry=default_registry(), clock=clock,
                        magic=magic_amounts())  # fmt: skip
