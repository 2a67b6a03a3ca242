"""The reference two-phase book at its edges: exact boundaries (the balance, the hold, the
deadline), the order of its refusals when a request breaks two rules, negative amounts, the
exact counters each step moves, and each invariant violation by name.

These pin what the Hypothesis machine of test_twophase.py only reaches by chance (found by
``scripts/mutate switch/ledger/twophase.py``).
"""

from __future__ import annotations

import pytest

from switch.ledger.twophase import AccountSpec, Balances, Book, Outcome, TransferRequest

ACCOUNTS = [
    AccountSpec("card", "DZD", debits_must_not_exceed_credits=True),
    AccountSpec("merchant", "DZD"),
    AccountSpec("funding", "DZD"),
    AccountSpec("tn-card", "TND", debits_must_not_exceed_credits=True),
    AccountSpec("tn-funding", "TND"),
]


def _funded(amount: int = 1_000) -> Book:
    book = Book(ACCOUNTS)
    assert book.apply(TransferRequest("fund", "single", "funding", "card", amount, "DZD"), 0) \
        is Outcome.OK  # fmt: skip
    return book


def _hold(book: Book, hold_id: str, amount: int, timeout_s: int = 0, now: float = 0) -> None:
    request = TransferRequest(hold_id, "pending", "card", "merchant", amount, "DZD",
                              timeout_s=timeout_s)  # fmt: skip
    assert book.apply(request, now) is Outcome.OK


@pytest.mark.parametrize("kind", ["single", "pending"])
def test_exactly_the_available_balance_passes_one_unit_more_does_not(kind: str) -> None:
    over = _funded(1_000)
    request = TransferRequest("over", kind, "card", "merchant", 1_001, "DZD")  # type: ignore[arg-type]
    assert over.apply(request, 0) is Outcome.EXCEEDS_CREDITS
    exact = _funded(1_000)
    request = TransferRequest("all", kind, "card", "merchant", 1_000, "DZD")  # type: ignore[arg-type]
    assert exact.apply(request, 0) is Outcome.OK
    assert exact.balances["card"].available == 0


def test_a_post_may_take_the_whole_hold_not_one_unit_more() -> None:
    book = _funded()
    _hold(book, "h1", 300)
    _hold(book, "h2", 300)
    assert book.apply(TransferRequest("p1", "post", amount=301, pending_id="h1"), 0) \
        is Outcome.EXCEEDS_PENDING_AMOUNT  # fmt: skip
    assert book.apply(TransferRequest("p2", "post", amount=300, pending_id="h1"), 0) is Outcome.OK
    assert book.apply(TransferRequest("p3", "post", amount=299, pending_id="h2"), 0) is Outcome.OK
    assert book.balances["card"] == Balances(debits_posted=599, credits_posted=1_000)
    assert book.balances["merchant"] == Balances(credits_posted=599)


def test_a_negative_post_is_refused_and_a_void_ignores_its_amount() -> None:
    book = _funded()
    _hold(book, "h1", 300)
    _hold(book, "h2", 300)
    assert book.apply(TransferRequest("p", "post", amount=-1, pending_id="h1"), 0) \
        is Outcome.AMOUNT_MUST_BE_POSITIVE  # fmt: skip
    assert book.balances["card"] == Balances(debits_pending=600, credits_posted=1_000)
    assert book.apply(TransferRequest("v", "void", amount=-1, pending_id="h2"), 0) is Outcome.OK
    assert book.apply(TransferRequest("p2", "post", pending_id="h1"), 0) is Outcome.OK
    assert book.balances["card"] == Balances(debits_posted=300, credits_posted=1_000)


def test_counters_move_exactly_on_hold_post_and_void() -> None:
    book = _funded()
    _hold(book, "h1", 200)
    _hold(book, "h2", 100)
    assert book.balances["card"] == Balances(debits_pending=300, credits_posted=1_000)
    assert book.balances["merchant"] == Balances(credits_pending=300)
    assert book.apply(TransferRequest("p", "post", amount=150, pending_id="h1"), 0) is Outcome.OK
    assert book.balances["card"] == Balances(100, 150, 0, 1_000)
    assert book.balances["merchant"] == Balances(0, 0, 100, 150)
    assert book.apply(TransferRequest("v", "void", pending_id="h2"), 0) is Outcome.OK
    assert book.balances["card"] == Balances(0, 150, 0, 1_000)
    assert book.balances["merchant"] == Balances(0, 0, 0, 150)


def test_a_hold_expires_at_its_deadline_before_the_next_request_is_decided() -> None:
    """No explicit expire: the next request at the deadline finds the hold gone; a one-second
    hold has a deadline too."""
    book = _funded(1_000)
    _hold(book, "h1", 1_000, timeout_s=1, now=10)
    late = TransferRequest("late", "single", "card", "merchant", 1_000, "DZD")
    assert book.apply(TransferRequest("early", "single", "card", "merchant", 1, "DZD"), 10.5) \
        is Outcome.EXCEEDS_CREDITS  # fmt: skip
    assert book.apply(late, 11) is Outcome.OK
    assert book.apply(TransferRequest("p", "post", pending_id="h1"), 11) is Outcome.PENDING_EXPIRED


REFUSED_TWICE = [
    # (request breaking two rules, the refusal that must win)
    (TransferRequest("a", "single", "nobody", "nobody", 5, "DZD"), Outcome.ACCOUNT_NOT_FOUND),
    (TransferRequest("b", "single", "nobody", "card", 0, "DZD"), Outcome.ACCOUNT_NOT_FOUND),
    (TransferRequest("c", "single", "card", "card", 0, "DZD"), Outcome.ACCOUNTS_MUST_DIFFER),
    (TransferRequest("d", "single", "card", "card", 5, "TND"), Outcome.ACCOUNTS_MUST_DIFFER),
    (TransferRequest("e", "single", "funding", "card", -5, "TND"),
     Outcome.AMOUNT_MUST_BE_POSITIVE),
    (TransferRequest("f", "single", "card", "tn-card", 5_000, "DZD"), Outcome.CURRENCY_MISMATCH),
    (TransferRequest("g", "pending", "card", "merchant", 5_000, "TND"),
     Outcome.CURRENCY_MISMATCH),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "expected"), REFUSED_TWICE, ids=lambda v: str(v)[:40])
def test_the_first_broken_rule_names_the_refusal(
    request_: TransferRequest, expected: Outcome
) -> None:
    """Account, then distinct accounts, then a positive amount, then one currency, then funds:
    the order the SQL triggers follow too."""
    assert _funded(1_000).apply(request_, 0) is expected


def test_each_broken_invariant_is_named() -> None:
    book = Book(ACCOUNTS)
    book.apply(TransferRequest("f1", "single", "funding", "card", 100, "DZD"), 0)
    book.apply(TransferRequest("f2", "single", "tn-funding", "tn-card", 100, "TND"), 0)
    assert book.violations() == []
    book.balances["card"] = Balances(debits_pending=-5, credits_posted=100)
    book.balances["merchant"] = Balances(credits_pending=-5)
    assert book.violations() == ["card: negative pending counter",
                                 "merchant: negative pending counter"]  # fmt: skip
    book.balances["merchant"] = Balances(credits_pending=7)
    book.balances["card"] = Balances(debits_pending=5, credits_posted=100)
    assert book.violations() == ["DZD: pending debits != pending credits"]
    tn = book.balances["tn-card"]
    book.balances["tn-card"] = Balances(0, tn.debits_posted + 1, 0, tn.credits_posted)
    assert sorted(book.violations()) == ["DZD: pending debits != pending credits",
                                         "TND: posted debits != posted credits"]  # fmt: skip
