"""Two-phase transfers: a Hypothesis state machine against a small reference model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from switch.ledger.twophase import (
    TRANSITIONS,
    AccountSpec,
    Book,
    HoldState,
    Outcome,
    TransferRequest,
)

CARDS = ("card-a", "card-b")
Resolution = Literal["post", "void"]
RESOLUTIONS: tuple[Resolution, ...] = ("post", "void")
ACCOUNTS = [
    AccountSpec("card-a", "DZD", debits_must_not_exceed_credits=True),
    AccountSpec("card-b", "DZD", debits_must_not_exceed_credits=True),
    AccountSpec("merchant", "DZD"),
    AccountSpec("funding", "DZD"),
    AccountSpec("tn-card", "TND", debits_must_not_exceed_credits=True),
]


@dataclass
class ModelHold:
    card: str
    amount: int
    deadline: float
    state: str = "pending"


class TwoPhaseMachine(RuleBasedStateMachine):
    """Random holds, posts (full, partial, too large), voids, expiries, single transfers,
    replays and conflicting reuses of an id; the model predicts every outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.book = Book(ACCOUNTS)
        self.now = 0.0
        self.next_id = 0
        self.available = dict.fromkeys(CARDS, 0)
        self.holds: dict[str, ModelHold] = {}
        self.history: list[tuple[TransferRequest, Outcome]] = []
        for card in CARDS:
            self._expect(TransferRequest(self._id(), "single", "funding", card, 50_000, "DZD"),
                         Outcome.OK)  # fmt: skip
            self.available[card] += 50_000

    def _id(self) -> str:
        self.next_id += 1
        return f"t{self.next_id}"

    def _expire_model(self) -> None:
        for hold in self.holds.values():
            if hold.state == "pending" and hold.deadline <= self.now:
                hold.state = "expired"
                self.available[hold.card] += hold.amount

    def _apply(self, request: TransferRequest) -> Outcome:
        """Apply ``request`` to the system under test (here the reference book)."""
        return self.book.apply(request, self.now)

    def _advance(self, seconds: int) -> None:
        self.now += seconds
        self.book.expire(self.now)

    def _expect(self, request: TransferRequest, expected: Outcome) -> None:
        outcome = self._apply(request)
        assert outcome is expected, (request, outcome, expected)
        self.history.append((request, outcome))

    @rule(card=st.sampled_from(CARDS), amount=st.integers(1, 60_000),
          timeout=st.sampled_from([0, 5, 30]))  # fmt: skip
    def hold(self, card: str, amount: int, timeout: int) -> None:
        self._expire_model()
        request = TransferRequest(self._id(), "pending", card, "merchant", amount, "DZD",
                                  timeout_s=timeout)  # fmt: skip
        if self.available[card] >= amount:
            self._expect(request, Outcome.OK)
            self.available[card] -= amount
            deadline = self.now + timeout if timeout else float("inf")
            self.holds[request.id] = ModelHold(card, amount, deadline)
        else:
            self._expect(request, Outcome.EXCEEDS_CREDITS)

    @rule(card=st.sampled_from(CARDS), amount=st.integers(1, 60_000))
    def purchase_or_refund(self, card: str, amount: int) -> None:
        self._expire_model()
        if amount % 3 == 0:  # a refund: merchant → card, always possible
            self._expect(TransferRequest(self._id(), "single", "merchant", card, amount, "DZD"),
                         Outcome.OK)  # fmt: skip
            self.available[card] += amount
            return
        request = TransferRequest(self._id(), "single", card, "merchant", amount, "DZD")
        if self.available[card] >= amount:
            self._expect(request, Outcome.OK)
            self.available[card] -= amount
        else:
            self._expect(request, Outcome.EXCEEDS_CREDITS)

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data(), kind=st.sampled_from(RESOLUTIONS),
          fraction=st.sampled_from([0, 1, 2, 3, 4, 5]))  # fmt: skip
    def resolve(self, data: st.DataObject, kind: Resolution, fraction: int) -> None:
        self._expire_model()
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        hold = self.holds[hold_id]
        amount = 0 if fraction == 0 else hold.amount * fraction // 4  # 5/4: too much
        request = TransferRequest(self._id(), kind, amount=amount, pending_id=hold_id)
        if hold.state != "pending":
            expected = {"posted": Outcome.PENDING_ALREADY_POSTED,
                        "voided": Outcome.PENDING_ALREADY_VOIDED,
                        "expired": Outcome.PENDING_EXPIRED}[hold.state]  # fmt: skip
            self._expect(request, expected)
            return
        if kind == "post" and amount > hold.amount:
            self._expect(request, Outcome.EXCEEDS_PENDING_AMOUNT)
            return
        self._expect(request, Outcome.OK)
        if kind == "post":
            hold.state = "posted"
            self.available[hold.card] += hold.amount - (amount or hold.amount)
        else:
            hold.state = "voided"
            self.available[hold.card] += hold.amount

    @rule(seconds=st.sampled_from([1, 5, 31]))
    def time_passes(self, seconds: int) -> None:
        self._advance(seconds)
        self._expire_model()

    @precondition(lambda self: bool(self.history))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """The same request again: the same result (OK becomes EXISTS, a refusal stays)."""
        request, outcome = data.draw(st.sampled_from(self.history))
        expected = Outcome.EXISTS if outcome in (Outcome.OK, Outcome.EXISTS) else outcome
        assert self._apply(request) is expected

    @precondition(lambda self: bool(self.history))
    @rule(data=st.data())
    def conflicting_reuse(self, data: st.DataObject) -> None:
        """The same id with other content is a conflict and changes nothing."""
        request, _ = data.draw(st.sampled_from(self.history))
        changed = TransferRequest(request.id, request.kind, request.debit, request.credit,
                                  request.amount + 1, request.currency, request.pending_id,
                                  request.timeout_s)  # fmt: skip
        assert self._apply(changed) is Outcome.EXISTS_WITH_DIFFERENT_FIELDS

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.book.violations() == []
        for card in CARDS:
            assert self.book.balances[card].available == self.available[card], card


TwoPhaseMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                             deadline=None)  # fmt: skip
test_two_phase_transfers = TwoPhaseMachine.TestCase


def test_validation_and_transitions() -> None:
    """Unknown accounts, same account, non-positive amounts and currency mismatches are refused;
    a hold resolves at most once."""
    book = Book(ACCOUNTS)
    assert book.apply(TransferRequest("x1", "single", "nope", "merchant", 1, "DZD"), 0) \
        is Outcome.ACCOUNT_NOT_FOUND  # fmt: skip
    assert book.apply(TransferRequest("x2", "single", "card-a", "card-a", 1, "DZD"), 0) \
        is Outcome.ACCOUNTS_MUST_DIFFER  # fmt: skip
    assert book.apply(TransferRequest("x3", "single", "funding", "card-a", 0, "DZD"), 0) \
        is Outcome.AMOUNT_MUST_BE_POSITIVE  # fmt: skip
    assert book.apply(TransferRequest("x4", "single", "funding", "tn-card", 5, "DZD"), 0) \
        is Outcome.CURRENCY_MISMATCH  # fmt: skip
    assert book.apply(TransferRequest("x5", "post", pending_id="none"), 0) \
        is Outcome.PENDING_NOT_FOUND  # fmt: skip
    assert set(TRANSITIONS.values()) == {HoldState.POSTED, HoldState.VOIDED, HoldState.EXPIRED}
    assert {state for state, _ in TRANSITIONS} == {HoldState.PENDING}


def test_violations_detect_a_corrupted_counter() -> None:
    """The invariant check can fail: a counter changed behind the book's back is reported."""
    book = Book(ACCOUNTS)
    book.apply(TransferRequest("f", "single", "funding", "card-a", 100, "DZD"), 0)
    assert book.violations() == []
    balance = book.balances["card-a"]
    book.balances["card-a"] = type(balance)(0, 500, 0, balance.credits_posted)
    assert any("posted debits" in p for p in book.violations())
    assert any("card-a: debits exceed credits" in p for p in book.violations())
