"""A terminal's bookkeeping (the till) and its store-and-forward queue, without a broker: a
scripted link answers (or not) each exchange, so every branch is reached exactly.

Pinned here: which outcomes leave a journal line (a sale, a refund, a sale whose reversal is
pending; never a decline, nor an unresolved pre-authorization or refund), receipts kept for
paper, the reversal advice sent as 0420 then repeated as 0421 until a final answer, and an
unanswered one kept queued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from cards import default_card_set
from terminal import CardPresentation, RequestBuilder
from terminal.machine import Event, TerminalMachine
from terminal.offline import offline_advice, offline_verdict
from terminal.records import TerminalError, TerminalStats, TransactionOutcome
from terminal.shell.saf import StoreAndForward
from terminal.shell.till import Till
from wire import ManualClock, default_registry
from wire.journal import EntryKind, JournalEntry
from wire.protocol import FinancialRequest, IsoMessage
from wire.protocol.codec import Encoding
from wire.protocol.responses import error_response
from wire.sealing import TransactionKeys

CARDS = default_card_set()
PROFILE = default_registry().get("DZAL0001")
assert PROFILE is not None
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
CARD = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)


class _Events:
    """Stands for the terminal's state machine: records the events it is given."""

    def __init__(self) -> None:
        self.seen: list[Event] = []

    def handle(self, event: Event) -> None:
        self.seen.append(event)


class _Terminal(Till, StoreAndForward):
    """The till and the queue of a terminal whose link answers from ``answers`` (None: no
    answer in time)."""

    def __init__(self, answers: Iterator[str | None] | None = None) -> None:
        self.profile = PROFILE  # type: ignore[assignment]
        self.clock = ManualClock(NOW)
        self.builder = RequestBuilder(PROFILE)  # type: ignore[arg-type]
        self.events = _Events()
        self.machine = cast(TerminalMachine, self.events)
        self.stats = TerminalStats()
        self.journal: list[JournalEntry] = []
        self.authorizations: dict[int, FinancialRequest] = {}
        self.last_sale = None
        self.paper = True
        self.unprinted: list[str] = []
        self.saf = []
        self.lose_reversals = False
        self.reversal_attempts = 3
        self.answers = answers or iter(())
        self.encoding = Encoding.JSON
        self.sent: list[str] = []

    @property
    def tid(self) -> str:
        return "DZAL0001"

    def _next_keys(self) -> TransactionKeys | None:
        return None

    async def _exchange(self, request: IsoMessage, payload: bytes, response_mti: str) -> Any:
        self.sent.append(request.mti)
        code = next(self.answers, None)
        return None if code is None else error_response(request, code, "")  # type: ignore[arg-type]


def _sale(amount: int = 5_000, **fields: Any) -> FinancialRequest:
    return RequestBuilder(PROFILE).purchase(CARD, amount, NOW, **fields)  # type: ignore[arg-type]


def _outcome(terminal: _Terminal, request: FinancialRequest, code: str | None,
             reversal: str | None = None) -> TransactionOutcome:  # fmt: skip
    response = None if code is None else error_response(request, code, "")
    return terminal._outcome(request, CARD, response, reversal, 1.0)


@pytest.mark.parametrize(
    ("code", "reversal", "preauth", "refund", "lines"),
    [("00", None, False, False, [EntryKind.SALE]), ("00", None, False, True, [EntryKind.REFUND]),
     ("51", None, False, False, []), (None, "acknowledged", False, False, []),
     (None, "unresolved", False, False, [EntryKind.REVERSAL_PENDING]),
     (None, "unresolved", True, False, []), (None, "unresolved", False, True, [])],
)  # fmt: skip
def test_what_an_outcome_leaves_in_the_journal(
    code: str | None, reversal: str | None, preauth: bool, refund: bool, lines: list[EntryKind]
) -> None:
    terminal = _Terminal()
    request = _sale(processing_code="200000") if refund else _sale()
    terminal._book(request, _outcome(terminal, request, code, reversal), preauth=preauth,
                   refund=refund)  # fmt: skip
    assert [entry.kind for entry in terminal.journal] == lines
    assert (terminal.last_sale is request) == (code == "00" and not preauth)


def test_receipts_wait_for_paper_and_come_out_once() -> None:
    terminal = _Terminal()
    printed = _sale()
    terminal._book(printed, _outcome(terminal, printed, "00"), preauth=False, refund=False)
    assert terminal.unprinted == []
    terminal.paper = False
    with pytest.raises(TerminalError, match="no paper"):
        terminal.reprint()
    waiting = _sale()
    outcome = _outcome(terminal, waiting, "00")
    assert outcome.printed is False
    terminal._book(waiting, outcome, preauth=False, refund=False)
    assert terminal.unprinted == [outcome.receipt]
    terminal.paper = True
    assert terminal.reprint() == [outcome.receipt] and terminal.reprint() == []


def test_the_receipt_says_whether_the_reversal_was_acknowledged() -> None:
    terminal = _Terminal()
    request = _sale()
    done = _outcome(terminal, request, None, "acknowledged")
    pending = _outcome(terminal, request, None, "unresolved")
    assert "Annulation transmise" in done.receipt and "en attente" not in done.receipt
    assert "Annulation en attente" in pending.receipt and "transmise" not in pending.receipt
    assert done.cash_back == pending.cash_back == 0
    assert "RETRAIT" not in done.receipt and "MONTANT" in done.receipt


def test_an_answer_in_the_terminals_own_currency_is_not_a_card_abroad() -> None:
    """DE51 (the card's currency) equal to the terminal's: no card currency on the outcome."""
    terminal = _Terminal()
    request = _sale()
    home = error_response(request, "00", "").model_copy(update={"billing_currency": "012"})
    abroad = error_response(request, "00", "").model_copy(update={"billing_currency": "788"})
    outcome = terminal._outcome(request, CARD, home, None, 1.0)
    assert outcome.card_currency is None
    assert terminal._outcome(request, CARD, abroad, None, 1.0).card_currency == "TND"


@pytest.mark.parametrize(
    ("answers", "sent", "result"),
    [(["00"], ["0420"], "acknowledged"), ([None, "00"], ["0420", "0421"], "acknowledged"),
     (["96", None, "12"], ["0420", "0421", "0421"], "acknowledged"),
     ([None, None, None], ["0420", "0421", "0421"], "unresolved"),
     (["96", "96", "96"], ["0420", "0421", "0421"], "unresolved")],
)  # fmt: skip
async def test_a_reversal_advice_is_repeated_until_a_final_answer(
    answers: list[str | None], sent: list[str], result: str
) -> None:
    """0420 once, then 0421 (same STAN): 00, 12 and 13 end it; no answer or another code
    (96) is tried again, three times in all; then it stays queued."""
    terminal = _Terminal(iter(answers))
    terminal.journal = [JournalEntry(EntryKind.REVERSAL_PENDING, 7, 5_000)]
    original = _sale().model_copy(update={"stan": 7})
    assert await terminal._reverse(original) == result
    assert terminal.sent == sent
    acknowledged = result == "acknowledged"
    assert (len(terminal.saf), terminal.stats.reversals_unresolved) == (
        (0, 0) if acknowledged else (1, 1))  # fmt: skip
    assert terminal.journal == ([] if acknowledged else
                                [JournalEntry(EntryKind.REVERSAL_PENDING, 7, 5_000)])  # fmt: skip
    last = Event.REVERSAL_ACKNOWLEDGED if acknowledged else Event.REVERSAL_ABANDONED
    assert terminal.events.seen == [Event.REVERSAL_SENT, last]
    assert terminal.stats.reversals_sent == 1


async def test_a_queued_advice_goes_again_as_0421_only() -> None:
    terminal = _Terminal(iter([None, None, None, None, "00"]))
    assert await terminal._reverse(_sale()) == "unresolved"
    assert await terminal.flush_saf() == 0
    assert terminal.sent == ["0420", "0421", "0421", "0421", "0421"]
    assert terminal.stats.reversals_unresolved == 0


async def test_a_lost_link_loses_every_reversal_and_keeps_it() -> None:
    terminal = _Terminal(iter(["00"]))
    terminal.lose_reversals = True
    assert await terminal._reverse(_sale()) == "unresolved"
    assert terminal.sent == [] and len(terminal.saf) == 1


@pytest.mark.parametrize(("answers", "queued"), [([None, None, None], 1), (["00"], 0)])
@pytest.mark.parametrize("losing_reversals", [False, True])
async def test_a_queued_completion_is_kept_until_answered(
    answers: list[str | None], queued: int, losing_reversals: bool
) -> None:
    """Whether or not reversals are being lost (a fault of reversals only)."""
    terminal = _Terminal(iter(answers))
    terminal.lose_reversals = losing_reversals
    hold = _sale(preauth=True)
    terminal.authorizations[hold.stan] = hold
    completion = terminal.builder.completion(hold, 4_000, NOW)
    terminal.saf = [(completion, None)]
    assert await terminal.flush_saf() == queued
    assert terminal.sent == ["0220"] * len(answers)
    assert [e.kind for e in terminal.journal] == ([] if queued else [EntryKind.SALE])
    assert list(terminal.authorizations) == ([hold.stan] if queued else [])


@pytest.mark.parametrize(
    ("answers", "queued", "lines"),
    [([None, None, None], 1, [EntryKind.OFFLINE]), (["00"], 0, [EntryKind.SALE]),
     (["05"], 0, [])],
)  # fmt: skip
async def test_an_offline_approval_is_uploaded_until_answered(
    answers: list[str | None], queued: int, lines: list[EntryKind]
) -> None:
    """An offline (Y3) sale waits in the queue as an 0220 with its OFFLINE journal line; once
    answered, the line becomes a sale (00) or goes (the switch refused it)."""
    terminal = _Terminal(iter(answers))
    sale = _sale(3_000)
    advice = offline_advice(sale, offline_verdict(sale, floor_limit=5_000))
    terminal.journal = [JournalEntry(EntryKind.OFFLINE, sale.stan, sale.amount)]
    terminal.saf = [(advice, None)]
    assert await terminal.flush_saf() == queued
    assert terminal.sent == ["0220"] * len(answers)
    assert [e.kind for e in terminal.journal] == lines
