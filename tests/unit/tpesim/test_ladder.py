"""Trace events into transactions and ladders (pure): a sale, a timeout with its reversal,
the book's bound, the Mermaid export, and the ledger's positions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import HTTPException

from switch.ledger.rules import AccountKind, LedgerAccount
from switch.ledger.twophase import Balances
from switch.service import restart_pause
from tpesim.ui.ladder import TransactionBook, mermaid
from tpesim.ui.ledger_view import ledger_view
from tpesim.ui.routes import Fault, _fault_topic
from wire.protocol.trace import TraceEvent
from wire.protocol.wallet import QrPaymentResult

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
DE7 = "1123140000"
SALE = {"mti": "0200", "2": "628058******7215", "3": "000000", "4": "000000150000",
        "7": DE7, "11": "000007", "41": "DZAL0001", "49": "012"}  # fmt: skip


def event(ms: int, hop: str, kind: str, message: dict[str, Any], **extra: Any) -> TraceEvent:
    return TraceEvent(at=T0 + timedelta(milliseconds=ms), tid="DZAL0001", hop=hop, event=kind,
                      mti=message.get("mti"), stan=int(message.get("11", "0")),
                      response_code=message.get("39"), message=message, **extra)  # fmt: skip


def answer(code: str, mti: str = "0210", stan: str = "000007", de7: str = DE7) -> dict[str, str]:
    return {"mti": mti, "7": de7, "11": stan, "41": "DZAL0001", "39": code}


def sale_events(code: str = "00") -> list[TraceEvent]:
    return [
        event(0, "terminal", "sent", SALE),
        event(5, "switch", "received", SALE),
        event(40, "switch", "answered", answer(code), route="issuer:algerie-poste",
              reason="approved", notes=("purchase pending 1 500,00 DZD: CCP-1 → merchant:M",)),
        event(45, "terminal", "received", answer(code)),
    ]  # fmt: skip


def test_a_sale_is_one_transaction_through_the_five_lanes() -> None:
    book = TransactionBook()
    for e in sale_events():
        book.add(e)
    (sale,) = book.recent()
    assert sale.id == f"DZAL0001-000007-{DE7}"
    summary = sale.summary()
    assert (summary["status"], summary["response_code"], summary["amount_minor"]) == (
        "approved", "00", 150_000)  # fmt: skip
    assert summary["amount"] == "1 500,00 DZD"
    hops = [(a.source, a.target, a.kind) for a in sale.ladder()]
    assert hops == [
        ("terminal", "broker", "sent"), ("broker", "switch", "received"),
        ("switch", "issuer", "route"), ("issuer", "switch", "route"),
        ("switch", "ledger", "ledger"), ("switch", "broker", "answered"),
        ("broker", "terminal", "received"),
    ]  # fmt: skip
    assert "algerie-poste" in sale.ladder()[2].label


def test_a_binary_message_says_so_on_its_arrow() -> None:
    """A trainer sees which hops carried ISO 8583 binary, and how many bytes."""
    book = TransactionBook()
    book.add(event(0, "terminal", "sent", SALE, encoding="iso8583", wire_bytes=152))
    book.add(event(5, "switch", "received", SALE, encoding="iso8583", wire_bytes=152))
    labels = [arrow.label for arrow in book.recent()[0].ladder()]
    assert labels == ["0200 Financial request (sale or refund) [ISO 8583, 152 bytes]"] * 2
    json_book = TransactionBook()
    json_book.add(sale_events()[0])
    assert json_book.recent()[0].ladder()[0].label == "0200 Financial request (sale or refund)"


def test_a_declined_sale_and_a_stand_in() -> None:
    book = TransactionBook()
    events = sale_events("51")
    events[2] = event(40, "switch", "answered", answer("00"), route="stand-in:banque-cib")
    for e in [*events[:3], event(45, "terminal", "received", answer("51"))]:
        book.add(e)
    (sale,) = book.recent()
    assert sale.status == "declined"  # the terminal's view wins
    assert sale.ladder()[2].label == "stand-in (STIP) for banque-cib"


def test_a_timeout_and_its_reversal_are_one_transaction() -> None:
    reversal = {"mti": "0420", "7": "1123140005", "11": "000008", "41": "DZAL0001",
                "90": f"0200000007{DE7}" + "0" * 22}  # fmt: skip
    book = TransactionBook()
    for e in [
        event(0, "terminal", "sent", SALE),
        event(5, "switch", "received", SALE),
        event(6, "switch", "lost", answer("00"), notes=("not sent: forced silence",)),
        event(1500, "terminal", "timeout", SALE, notes=("no answer within 1.5 s",)),
    ]:
        book.add(e)
    assert book.recent()[0].status == "timeout"
    book.add(event(1510, "terminal", "sent", reversal))
    book.add(event(1530, "terminal", "received", answer("00", "0430", "000008", "1123140005")))
    (sale,) = book.recent()
    assert sale.status == "reversed" and len(sale.events) == 6
    kinds = [a.kind for a in sale.ladder()]
    assert kinds == ["sent", "received", "lost", "timeout", "sent", "received"]
    diagram = mermaid(sale)
    assert diagram.startswith("sequenceDiagram\n")
    assert "S-xS" not in diagram and "Note over S: 0210" in diagram
    assert "Note over T: no answer within 1.5 s" in diagram
    assert "T->>B: 0420 Reversal advice" in diagram


def test_the_book_keeps_the_latest_transactions_and_hides_network_ones() -> None:
    book = TransactionBook(capacity=3)
    for stan in range(1, 6):
        message = dict(SALE, **{"11": f"{stan:06d}"})
        book.add(event(stan, "terminal", "sent", message))
    book.add(event(9, "terminal", "sent", {"mti": "0800", "7": DE7, "11": "000009", "70": "301"}))
    assert [t.id[9:15] for t in book.recent()] == ["000005", "000004"]
    assert len(book.recent(network=True)) == 3
    assert book.get(f"DZAL0001-000001-{DE7}") is None


def test_positions_sum_to_zero_per_currency() -> None:
    holder = LedgerAccount("CCP-1", AccountKind.CARDHOLDER, "DZD", "issuer:algerie-poste")
    funding = LedgerAccount("issuer:algerie-poste:DZD", AccountKind.ISSUER, "DZD",
                            "issuer:algerie-poste")  # fmt: skip
    shop = LedgerAccount("merchant:M:DZD", AccountKind.MERCHANT, "DZD", "merchant:M")
    view = ledger_view([
        (holder, Balances(debits_pending=150_000, debits_posted=20_000, credits_posted=1_000_000)),
        (funding, Balances(debits_posted=1_000_000)),
        (shop, Balances(credits_pending=150_000, credits_posted=20_000)),
    ])  # fmt: skip
    positions = {p["participant"]: (p["net_minor"], p["held_minor"]) for p in view["positions"]}
    assert positions == {
        "issuer:algerie-poste": (-20_000, 150_000),
        "merchant:M": (20_000, -150_000),
    }
    assert view["totals"] == [
        {"currency": "DZD", "net_minor": 0, "held_minor": 0, "balanced": True}
    ]
    assert view["accounts"][0]["posted"] == "9 800,00 DZD"


@pytest.mark.parametrize(
    ("fault", "topic"),
    [
        (Fault(target="switch", action="restart"), "sim/control/switch"),
        (Fault(target="switch", action="restart:1.5"), "sim/control/switch"),
        (Fault(target="terminal", id="DZAL0001", action="paper-out"), "sim/control/tpe/DZAL0001"),
        (Fault(target="issuer", id="banque-cib", action="slow:2"), "sim/control/issuer/banque-cib"),
        (Fault(target="issuer", id="banque-cib", action="down"), "sim/control/issuer/banque-cib"),
    ],
)
def test_fault_buttons_publish_on_their_control_topic(fault: Fault, topic: str) -> None:
    assert _fault_topic(fault, {"banque-cib"}, {"DZAL0001"}) == topic


@pytest.mark.parametrize(
    "fault",
    [
        Fault(target="switch", action="reboot"),
        Fault(target="terminal", id="DZAL0002", action="unplug"),  # not of this fleet
        Fault(target="terminal", id="DZAL0001", action="explode"),
        Fault(target="issuer", id="nobody", action="down"),
        Fault(target="issuer", id="banque-cib", action="slow"),
    ],
)
def test_senseless_faults_are_refused(fault: Fault) -> None:
    with pytest.raises(HTTPException) as refused:
        _fault_topic(fault, {"banque-cib"}, {"DZAL0001"})
    assert refused.value.status_code == 422


def test_restart_commands() -> None:
    assert restart_pause(b"restart") == 3.0
    assert restart_pause(b"restart:0.5") == 0.5
    assert restart_pause(b"restart:x") is None
    assert restart_pause(b"restart:9999") is None
    assert restart_pause(b"stop") is None


def test_a_qr_payment_is_one_transaction_on_the_paid_terminal() -> None:
    """The switch's trace of a wallet's QR payment: one transaction, approved, its amount."""
    paid = QrPaymentResult(wallet="amina", reference="18c2f-1", response_code="00",
                           reason="paid", amount=150_000, currency="DZD", tid="DZAL0001",
                           masked_pan="628058******7215", rrn="634010000042")  # fmt: skip
    view = json.loads(paid.trace_view())
    book = TransactionBook()
    book.add(event(0, "switch", "received", view))
    book.add(event(3, "switch", "answered", view))
    (payment,) = book.recent()
    summary = payment.summary()
    assert (summary["status"], summary["amount"], summary["what"]) == (
        "approved", "1 500,00 DZD", "QR payment from a wallet app (not ISO 8583)")  # fmt: skip
    assert [a.source for a in payment.ladder()] == ["broker", "switch"]
