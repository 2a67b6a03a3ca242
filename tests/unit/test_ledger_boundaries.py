"""The stores' rules (SQLite and PostgreSQL triggers) at their edges, as the reference book's
are in test_twophase_boundaries.py: a hold or a post of exactly what is allowed passes and one
unit more is refused, non-positive amounts are refused, and a transfer breaking two rules gets
the refusal of the first, in the reference model's order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cards import default_card_set
from switch.ledger import Outcome, Phase, Transfer
from switch.ledger.postings import completion_post
from switch.ledger.rules import TransferKind
from tests.ledgers import LedgerBackend
from tests.unit.test_ledger import DAY, MERCHANT, buy, record

CARDS = default_card_set()
CARD = "CCP-0001001"
OPENING = 15_000_000
"""EDH-VALID's opening balance on CCP-0001001 (minor units)."""
TN_CARD = "TN-BIAT-0004001"
LATER = ("DZAL0001", 44, "1123150000")


async def test_a_post_may_take_the_whole_hold_not_one_unit_more(backend: LedgerBackend) -> None:
    async with backend.open(CARDS) as ledger:
        hold = buy(10_000, preauth=True)
        await record(ledger, hold, mti="0100")
        over = completion_post(hold, key=LATER, amount=10_001, business_day=DAY)
        assert await ledger.apply([over]) == [Outcome.EXCEEDS_PENDING_AMOUNT]
        negative = replace(over, id="completion:negative", amount=-1)
        assert await ledger.apply([negative]) == [Outcome.AMOUNT_MUST_BE_POSITIVE]
        assert await ledger.available(CARD) == OPENING - 10_000
        exact = replace(over, id="completion:exact", amount=10_000)
        assert await ledger.apply([exact]) == [Outcome.OK]
        assert await ledger.available(CARD) == OPENING - 10_000
    assert (await backend.check()).ok


async def test_a_hold_of_exactly_the_balance_passes_one_unit_more_does_not(
    backend: LedgerBackend,
) -> None:
    async with backend.open(CARDS) as ledger:
        over = buy(OPENING + 1)
        assert await ledger.apply([over], accounts=[MERCHANT]) == [Outcome.EXCEEDS_CREDITS]
        exact = replace(buy(OPENING), id="hold:exact")
        assert await ledger.apply([exact]) == [Outcome.OK]
        assert await ledger.available(CARD) == 0
        one_more = replace(buy(1), id="hold:one-more")
        assert await ledger.apply([one_more]) == [Outcome.EXCEEDS_CREDITS]
    assert (await backend.check()).ok


def _single(id_: str, debit: str, credit: str, amount: int, currency: str = "DZD") -> Transfer:
    return Transfer(id_, TransferKind.PURCHASE, Phase.SINGLE, debit, credit, amount, currency)


REFUSED_TWICE = [
    (_single("a", "nobody", "nobody", 5), Outcome.ACCOUNT_NOT_FOUND),
    (_single("b", "nobody", CARD, 0), Outcome.ACCOUNT_NOT_FOUND),
    (_single("c", CARD, CARD, 0), Outcome.ACCOUNTS_MUST_DIFFER),
    (_single("d", CARD, CARD, 5, "TND"), Outcome.ACCOUNTS_MUST_DIFFER),
    (_single("e", CARD, MERCHANT.id, -5, "TND"), Outcome.AMOUNT_MUST_BE_POSITIVE),
    (_single("f", CARD, TN_CARD, OPENING + 1), Outcome.CURRENCY_MISMATCH),
    (_single("g", CARD, MERCHANT.id, OPENING + 1, "TND"), Outcome.CURRENCY_MISMATCH),
]


@pytest.mark.parametrize(("transfer", "expected"), REFUSED_TWICE, ids=lambda v: str(v)[:30])
async def test_the_first_broken_rule_names_the_refusal(
    backend: LedgerBackend, transfer: Transfer, expected: Outcome
) -> None:
    async with backend.open(CARDS) as ledger:
        assert await ledger.apply([transfer], accounts=[MERCHANT]) == [expected]
        assert await ledger.available(CARD) == OPENING
    assert (await backend.check()).ok
