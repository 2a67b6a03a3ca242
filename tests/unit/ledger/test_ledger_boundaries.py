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
from tests.ledgers import LATE_US, LedgerBackend, insert_statement
from tests.unit.ledger.test_ledger import DAY, MERCHANT, buy, record

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
    (_single("z", CARD, MERCHANT.id, 0), Outcome.AMOUNT_MUST_BE_POSITIVE),
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


def _resolve(hold: Transfer, id_: str, phase: Phase, **changes: object) -> Transfer:
    """A post or void of ``hold`` under a new id (``changes``: fields to get wrong)."""
    kind = TransferKind.COMPLETION if phase is Phase.POST else TransferKind.REVERSAL
    fields: dict[str, object] = {"id": id_, "kind": kind, "phase": phase,
                                 "pending_id": hold.id, "timeout_s": 0} | changes  # fmt: skip
    return replace(hold, **fields)  # type: ignore[arg-type]


async def test_a_hold_resolves_once_and_only_a_hold_resolves(backend: LedgerBackend) -> None:
    async with backend.open(CARDS) as ledger:
        posted, voided = buy(10_000, preauth=True), buy(20_000, LATER, preauth=True)
        await record(ledger, posted, mti="0100")
        await record(ledger, voided, LATER, "0100")
        ghost = replace(posted, id="preauth:nobody")
        assert await ledger.apply([_resolve(ghost, "p0", Phase.POST),
                                   _resolve(ghost, "v0", Phase.VOID)]) == [
            Outcome.PENDING_NOT_FOUND, Outcome.PENDING_NOT_FOUND]  # fmt: skip
        assert (
            await ledger.apply(
                [_resolve(posted, "p1", Phase.POST), _resolve(voided, "v1", Phase.VOID)]
            )
            == [Outcome.OK] * 2
        )
        again = [
            _resolve(posted, "p2", Phase.POST),
            _resolve(posted, "v2", Phase.VOID),
            _resolve(voided, "p3", Phase.POST),
            _resolve(voided, "v3", Phase.VOID),
        ]
        assert await ledger.apply(again) == [
            Outcome.PENDING_ALREADY_POSTED, Outcome.PENDING_ALREADY_POSTED,
            Outcome.PENDING_ALREADY_VOIDED, Outcome.PENDING_ALREADY_VOIDED]  # fmt: skip
        assert await ledger.available(CARD) == OPENING - 10_000
    assert (await backend.check()).ok


async def test_a_hold_of_all_the_money_posts_in_full(backend: LedgerBackend) -> None:
    """The balance rule is a hold's: posting a hold that took every unit passes."""
    async with backend.open(CARDS) as ledger:
        hold = buy(OPENING, preauth=True)
        await record(ledger, hold, mti="0100")
        assert await ledger.available(CARD) == 0
        assert await ledger.apply([_resolve(hold, "all", Phase.POST)]) == [Outcome.OK]
        assert await ledger.available(CARD) == 0
    assert (await backend.check()).ok


RAW_RESOLUTIONS: dict[str, tuple[dict[str, str], str | None]] = {
    # (column changes from a sound post of the 100,00 DA hold, the rule that must refuse it)
    "the sound post itself": ({}, None),
    "other debit account": ({"debit_account": "'CCP-0001002'"}, "resolution_differs_from_pending"),
    "other credit account": ({"credit_account": "'issuer:algerie-poste:DZD'"},
                             "resolution_differs_from_pending"),
    "other currency": ({"currency": "'TND'"}, "resolution_differs_from_pending"),
    "a void of another amount": ({"phase": "'void'", "amount": "9999"},
                                 "resolution_differs_from_pending"),
    "a post of nothing": ({"amount": "0"}, "amount_must_be_positive"),
    "a post of no hold": ({"pending_id": "'preauth:nobody'"}, "pending_not_found"),
    "a post of a posted hold": ({"id": "'again'"}, "pending_already_posted"),
    "a post of a voided hold": ({"id": "'again'"}, "pending_already_voided"),
    "a post of an expired hold": ({"id": "'again'"}, "pending_expired"),
}  # fmt: skip
RESOLVED_FIRST = {"a post of a posted hold": "'post'", "a post of a voided hold": "'void'",
                  "a post of an expired hold": "'expire'"}  # fmt: skip
"""Cases whose hold is resolved first (sound, raw) by a resolution of this phase."""


def _raw_post(hold: Transfer, id_: str) -> dict[str, str]:
    """A sound post of all of ``hold`` as a raw row (column -> SQL literal)."""
    return {"id": f"'{id_}'", "kind": "'completion'", "phase": "'post'",
            "pending_id": f"'{hold.id}'", "debit_account": f"'{hold.debit_account}'",
            "credit_account": f"'{hold.credit_account}'", "amount": str(hold.amount),
            "currency": f"'{hold.currency}'", "at_us": str(LATE_US), "digest": "''"}  # fmt: skip


@pytest.mark.parametrize("case", RAW_RESOLUTIONS)
async def test_a_raw_resolution_is_refused_by_the_rule_it_breaks(
    backend: LedgerBackend, case: str
) -> None:
    """The store writes a resolution with its hold's accounts, currency and (for a void) amount;
    a writer going round it meets the rule triggers, which name the rule broken."""
    async with backend.open(CARDS) as ledger:
        hold = buy(10_000, preauth=True)
        await record(ledger, hold, mti="0100")
    changes, rule = RAW_RESOLUTIONS[case]
    row = _raw_post(hold, "raw-post") | changes
    insert = insert_statement("transfers", row)
    if case in RESOLVED_FIRST:
        first = row | {"id": "'first'", "phase": RESOLVED_FIRST[case]}
        await backend.raw([insert_statement("transfers", first)])
    if rule is None:
        await backend.raw([insert])
        return
    with pytest.raises(backend.integrity_error, match=rule):
        await backend.raw([insert])


async def test_a_refused_transfer_stays_refused_under_its_id(backend: LedgerBackend) -> None:
    """A refusal is remembered (TigerBeetle's rule): the same transfer again gets the same
    refusal even once it would pass; the same id with other fields is a conflict."""
    async with backend.open(CARDS) as ledger:
        too_much = buy(OPENING + 1)
        assert await ledger.apply([too_much], accounts=[MERCHANT]) == [Outcome.EXCEEDS_CREDITS]
        top_up = _single("top-up", "issuer:algerie-poste:DZD", CARD, 10)
        assert await ledger.apply([top_up]) == [Outcome.OK]
        assert await ledger.apply([too_much]) == [Outcome.EXCEEDS_CREDITS]
        other = replace(too_much, amount=5)
        assert await ledger.apply([other]) == [Outcome.EXISTS_WITH_DIFFERENT_FIELDS]
        assert await ledger.available(CARD) == OPENING + 10
    assert (await backend.check()).ok


async def test_a_cleared_hold_counts_as_posted_and_no_other(backend: LedgerBackend) -> None:
    """A settlement run's clearing resolves the holds it lists (cleared_holds), those only: a
    post of a cleared hold is refused as already posted, one of another hold goes in."""
    async with backend.open(CARDS) as ledger:
        cleared, other = buy(10_000, preauth=True), buy(20_000, LATER, preauth=True)
        await record(ledger, cleared, mti="0100")
        await record(ledger, other, LATER, "0100")

    await backend.raw(["INSERT INTO cleared_holds (hold_seq, clearing_id) SELECT seq, 'run-1' "
                       f"FROM transfers WHERE id = '{cleared.id}'"])  # fmt: skip
    with pytest.raises(backend.integrity_error, match="pending_already_posted"):
        await backend.raw([insert_statement("transfers", _raw_post(cleared, "post-cleared"))])
    await backend.raw([insert_statement("transfers", _raw_post(other, "post-other"))])
