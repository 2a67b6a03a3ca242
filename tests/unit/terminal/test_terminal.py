"""Terminal pure parts: state machine table, request building, receipts, traffic plans."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cards import default_card_set
from cards.crypto import DukptExhaustedError
from cards.currency import currency
from cards.holders import holder_pin
from switch.security import SecurityModule, load_keys
from terminal import (
    TRANSITIONS,
    CardPresentation,
    Event,
    InvalidTransitionError,
    ReceiptData,
    RequestBuilder,
    State,
    TerminalMachine,
    plan_traffic,
    render_receipt,
)
from terminal.machine import mermaid_diagram
from terminal.pinpad import PinPad
from wire import default_registry, magic_amounts
from wire.sealing import DukptFlavour

CARDS = default_card_set()
REGISTRY = default_registry()
NOW = datetime(2026, 11, 23, 13, 4, 5, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_happy_path_and_timeout_path_through_the_table() -> None:
    """idle → awaiting → approved → idle, and awaiting → timed out → reversal → idle."""
    machine = TerminalMachine("DZAL0001")
    for event in (
        Event.CONNECTED,
        Event.SIGN_ON_ACCEPTED,
        Event.REQUEST_SENT,
        Event.APPROVAL_RECEIVED,
        Event.RECEIPT_DONE,
        Event.REQUEST_SENT,
        Event.RESPONSE_TIMEOUT,
        Event.REVERSAL_SENT,
        Event.REVERSAL_ACKNOWLEDGED,
    ):
        machine.handle(event)
    assert machine.state is State.IDLE
    assert repr(machine) == "<TerminalMachine DZAL0001 IDLE>"


def test_illegal_events_raise() -> None:
    """A response while idle is a bug, reported with the terminal and state."""
    machine = TerminalMachine("DZAL0001", State.IDLE)
    with pytest.raises(InvalidTransitionError, match=r"DZAL0001.*IDLE"):
        machine.handle(Event.APPROVAL_RECEIVED)
    assert all((state, Event.DISCONNECTED) in TRANSITIONS for state in State)


def test_architecture_doc_shows_the_generated_diagram() -> None:
    """docs/architecture.md holds the diagram generated from the transition table."""
    assert mermaid_diagram() in (DOCS / "architecture.md").read_text(encoding="utf-8")


def test_builder_sets_local_time_and_wraps_stan() -> None:
    """DE7 is GMT, DE12/13 local (Algiers is UTC+1); STAN wraps 999999 → 1."""
    profile = REGISTRY.get("DZAL0001")
    assert profile is not None
    builder = RequestBuilder(profile, first_stan=999_999)
    card = CardPresentation.from_card(CARDS.card("EDH-WRONG-EXPIRY"), CARDS)
    request = builder.purchase(card, 150_000, NOW)
    assert (request.transmission_time, request.local_time, request.local_date) == (
        "1123130405",
        "140405",
        "1123",
    )
    assert request.expiry == "2705"  # the expiry the card presents, not the issuer's file
    assert (request.stan, builder.next_stan()) == (999_999, 1)
    reversal = builder.reversal(request, NOW)
    assert reversal.original_key == request.key


def _receipt(
    tid: str,
    card_id: str,
    amount: int,
    code: str | None,
    *,
    auth_code: str | None = None,
    rrn: str | None = None,
    reversal_acknowledged: bool | None = None,
) -> str:
    profile = REGISTRY.get(tid)
    assert profile is not None
    return render_receipt(
        ReceiptData(
            profile=profile,
            moment=NOW,
            stan=42,
            pan=CARDS.card(card_id).pan,
            card_label="EDAHABIA",
            amount=amount,
            response_code=code,
            auth_code=auth_code,
            rrn=rrn,
            reversal_acknowledged=reversal_acknowledged,
        )
    )


def test_receipt_is_bilingual_masked_and_uses_currency_decimals() -> None:
    """French and Arabic lines, masked PAN, 2 decimals in DZD and 3 in TND."""
    text = _receipt("DZAL0001", "EDH-VALID", 150_000, "00", auth_code="ABC123", rrn="632714000042")
    assert "6280581110007215" not in text and "628058******7215" in text
    assert "1 500,00 DA" in text and "1 500,00 دج" in text
    assert "TRANSACTION ACCEPTEE" in text and "عملية مقبولة" in text
    assert "AUTORISATION ABC123" in text and "23/11/2026 14:04:05" in text
    tunis = _receipt("TNTU0001", "TN-CTI", 12_345, "51")
    assert "12,345 DT" in tunis and "51 - Provision insuffisante" in tunis
    assert "رصيد غير كاف" in tunis and "SMT - TPE" in tunis
    timeout = _receipt("DZAL0001", "EDH-VALID", 7_799, None, reversal_acknowledged=True)
    assert "PAS DE REPONSE" in timeout and "Aucun montant debite" in timeout


def test_traffic_plan_is_seeded_and_covers_the_card_set() -> None:
    """Same seed → same plan; every card appears; the special intents are present."""
    fleet = REGISTRY.fleet(10)
    plan = plan_traffic(
        seed=7, count=300, fleet=fleet, cards=CARDS, magic=magic_amounts(), today=date(2026, 11, 23)
    )
    again = plan_traffic(
        seed=7, count=300, fleet=fleet, cards=CARDS, magic=magic_amounts(), today=date(2026, 11, 23)
    )
    other = plan_traffic(
        seed=8, count=300, fleet=fleet, cards=CARDS, magic=magic_amounts(), today=date(2026, 11, 23)
    )
    assert plan == again and plan != other
    assert {p.card_id for p in plan} == {c.id for c in CARDS.cards}
    intents = Counter(p.intent for p in plan)
    assert intents["below-minimum"] == intents["abroad"] == intents["no-response"] == 1
    assert intents["wrong-pin"] == intents["magstripe"] == intents["keyed"] == 1
    assert intents["tampered-mac"] == intents["cloned-card"] == 1
    assert {p.entry for p in plan if p.card_id == "EDH-WRONG-CVV2"} == {"keyed"}
    assert {p.entry for p in plan if p.intent == "everyday"} == {"chip"}
    for item in plan:
        right = holder_pin(item.card_id)
        assert (item.pin == right) is (item.intent != "wrong-pin"), item
    assert len(plan) == 300 and [p.index for p in plan] == list(range(300))
    tids = {p.tid for p in fleet}
    assert {p.tid for p in plan} <= tids


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_an_exhausted_pin_pad_refuses_until_rekeyed(flavour: DukptFlavour) -> None:
    """After ``exhaust`` the PIN pad's next transaction raises; a fresh key injection works."""
    security = SecurityModule(load_keys())
    pinpad = PinPad(security.inject_terminal_key("DZAL0001", flavour))
    pinpad.next_transaction()
    pinpad.exhaust()
    with pytest.raises(DukptExhaustedError):
        pinpad.next_transaction()
    fresh = PinPad(security.inject_terminal_key("DZAL0001", flavour))
    assert fresh.next_transaction().ksn_hex


def test_a_receipt_abroad_prints_what_the_card_pays_and_its_balance_in_its_currency() -> None:
    """Paid abroad, the receipt shows the card's debit (DE6) and the rate (DE10); a balance
    inquiry's balance is in the card's currency, not the terminal's."""
    profile = REGISTRY.get("FRWB0001")
    assert profile is not None
    base = ReceiptData(profile=profile, moment=NOW, stan=7, pan=CARDS.card("TN-CTI").pan,
                       card_label="CTI", amount=1_999, response_code="00", auth_code="A1B2C3",
                       rrn="000000000007", card_currency=currency("TND"))  # fmt: skip
    sale = render_receipt(replace(base, billed=68_366, rate=Decimal("3.42")))
    assert "19,99 EUR" in sale and "DEBITE SUR LA CARTE" in sale and "68,366 DT" in sale
    assert "1 EUR = 3,42 DT" in sale
    inquiry = render_receipt(replace(base, amount=0, processing_code="310000", balance=2_332_384))
    assert "SOLDE DISPONIBLE" in inquiry and "2 332,384 DT" in inquiry and " EUR" not in inquiry
