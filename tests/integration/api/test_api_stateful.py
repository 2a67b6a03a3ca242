"""Sequences, not single calls: a Hypothesis state machine drives the merchant API of a real
``tpesim serve`` (real Mosquitto, switch, terminals and SQLite ledger) with payments, refunds,
voids, pre-authorization completions and cancels, batch closes and retries under the same and
another idempotency key, and checks every answer and the ledger's balances against a small
reference model of the money (issue 20)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from switch.ledger import check_ledger
from tests.conftest import MosquittoProcess
from tests.integration.api.test_api_properties import _ServerThread
from tpesim.scenario.trace import available_balances
from tpesim.serve import ServeConfig

pytestmark = pytest.mark.integration

CARDS = {"EDH-VALID": "CCP-0001001", "CIB-VALID": "RIB-BDL-0002001", "EDH-VALID-2": "CCP-0001002"}
"""The cards the machine pays with, and their accounts."""
START_BALANCE = 10_000_000
"""What the back office makes each card's balance at the start of every example: 100 000 DA."""
AMOUNTS = st.integers(1_000, 60_000).filter(lambda minor: minor // 100 != 77)
"""10,00 to 600,00 DA, never a magic amount (77,xx DA forces an outcome)."""
_KEYS = itertools.count()


@dataclass
class Paid:
    """The model's view of one payment: what the terminal should have done with the money."""

    id: str
    kind: str
    card: str
    amount: int
    """What it took (a purchase), holds (an open pre-authorization) or gives back (a refund)."""
    status: str = "approved"
    of: str | None = None
    """A refund's sale."""
    refunds: list[str] = field(default_factory=list)


class MoneyMachine(RuleBasedStateMachine):
    """The merchant API against the reference model; one terminal, three cards."""

    server: ClassVar[_ServerThread]

    def __init__(self) -> None:
        super().__init__()
        self.client = httpx.Client(base_url=self.server.url, timeout=30)
        self.tid = next(t for t in self.server.tids if t.startswith("DZ"))
        self.db = self.server.config.workdir / "ledger.db"
        self.paid: dict[str, Paid] = {}
        self.available: dict[str, int] = {}
        self.batch: list[str] = []
        """Ids the terminal's open batch counts (sales, completions, refunds)."""
        self.last: str | None = None
        """What the cancel key would void: the last approved purchase or refund of the batch."""
        self.bodies: dict[str, tuple[str, dict[str, Any], str]] = {}
        """Idempotency key → (path, body, payment id) of the payments and refunds made."""

    @initialize()
    def fresh_batch_and_balances(self) -> None:
        """Every example starts on a closed batch, each card with 100 000,00 DA."""
        assert self.client.post(f"/v1/terminals/{self.tid}/batch").status_code == 200
        for card, account in CARDS.items():
            set_to = self.client.put(f"/v1/cards/{card}/balance",
                                     json={"available_minor": START_BALANCE})  # fmt: skip
            assert set_to.status_code == 200, set_to.text
            self.available[account] = START_BALANCE

    def teardown(self) -> None:
        self.client.close()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.client.post(path, json=body) if body is not None else self.client.post(path)

    def _key(self) -> str:
        return f"k{next(_KEYS)}"

    @rule(card=st.sampled_from(sorted(CARDS)), amount=AMOUNTS, preauth=st.booleans())
    def pay(self, card: str, amount: int, preauth: bool) -> None:
        """A purchase or a pre-authorization: approved (the cards have the money), held."""
        key = self._key()
        body = {"amount_minor": amount, "currency": "DZD", "card_id": card,
                "idempotency_key": key, "preauth": preauth}  # fmt: skip
        path = f"/v1/terminals/{self.tid}/payments"
        answer = self._post(path, body)
        assert answer.status_code == 201, answer.text
        payment = answer.json()
        assert (payment["status"], payment["amount_minor"]) == ("approved", amount), payment
        kind = "preauth" if preauth else "purchase"
        self.paid[payment["id"]] = Paid(payment["id"], kind, card, amount)
        self.available[CARDS[card]] -= amount
        self.bodies[key] = (path, body, payment["id"])
        if not preauth:
            self.batch.append(payment["id"])
            self.last = payment["id"]

    @precondition(lambda self: self.bodies)
    @rule(data=st.data(), same_body=st.booleans())
    def retry(self, data: st.DataObject, same_body: bool) -> None:
        """A request sent again under its idempotency key: the same payment, nothing moves; with
        another body under that key: 409, nothing moves."""
        key = data.draw(st.sampled_from(sorted(self.bodies)))
        path, body, payment_id = self.bodies[key]
        if same_body:
            again = self._post(path, body)
            assert (again.status_code, again.json()["id"]) == (200, payment_id), again.text
        else:
            changed = dict(body, amount_minor=body.get("amount_minor", 0) + 1)
            assert self._post(path, changed).status_code in (409, 422)

    def _refundable(self) -> list[str]:
        return sorted(p.id for p in self.paid.values()
                      if p.kind == "purchase" and p.status == "approved")  # fmt: skip

    def _left(self, sale: Paid) -> int:
        given = sum(self.paid[r].amount for r in sale.refunds if self.paid[r].status == "approved")
        return sale.amount - given

    @precondition(lambda self: self._refundable())
    @rule(data=st.data(), how=st.sampled_from(("full", 0.3, 0.6, "left", "left+1")))
    def refund(self, data: st.DataObject, how: str | float) -> None:
        """A refund of a sale (in full, a share of it, exactly what it has left, or a centime
        more): approved while the sale has that much left after its earlier refunds, else
        declined 13; more than the sale itself is 422; the card is credited later."""
        sale = self.paid[data.draw(st.sampled_from(self._refundable()))]
        key = self._key()
        body: dict[str, Any] = {"idempotency_key": key}
        amount = sale.amount
        if how != "full":
            left = self._left(sale)
            wanted = {"left": left, "left+1": left + 1}.get(str(how))
            amount = max(int(sale.amount * float(how)), 1) if wanted is None else max(wanted, 1)
            body["amount_minor"] = amount
        path = f"/v1/payments/{sale.id}/refund"
        answer = self._post(path, body)
        if amount > sale.amount:
            assert answer.status_code == 422, answer.text
            return
        assert answer.status_code == 201, answer.text
        refund = answer.json()
        expected = "approved" if amount <= self._left(sale) else "declined"
        assert refund["status"] == expected, (refund, self._left(sale))
        self.bodies[key] = (path, body, refund["id"])
        if expected == "declined":
            assert refund["response_code"] == "13"
            return
        self.paid[refund["id"]] = Paid(refund["id"], "refund", sale.card, amount, of=sale.id)
        sale.refunds.append(refund["id"])
        self.batch.append(refund["id"])
        self.last = refund["id"]

    @rule()
    def void_last(self) -> None:
        """The cancel key voids the batch's last approved purchase or refund (money back, out of
        the batch), and nothing else: any other payment is 409."""
        others = [p for p in self.paid.values() if p.status == "approved" and p.id != self.last]
        if others:
            assert self._post(f"/v1/payments/{others[0].id}/void").status_code == 409
        if self.last is None:
            return
        voided = self.paid[self.last]
        answer = self._post(f"/v1/payments/{voided.id}/void")
        assert answer.status_code == 200, answer.text
        assert (answer.json()["status"], answer.json()["reversal"]) == ("cancelled", "acknowledged")
        voided.status = "cancelled"
        self.batch.remove(voided.id)
        self.last = None
        if voided.kind == "purchase":
            self.available[CARDS[voided.card]] += voided.amount

    def _open_preauths(self) -> list[str]:
        return sorted(p.id for p in self.paid.values()
                      if p.kind == "preauth" and p.status == "approved")  # fmt: skip

    @precondition(lambda self: self._open_preauths())
    @rule(data=st.data(), share=st.sampled_from((0.5, 1.0)), cancel=st.booleans())
    def resolve_preauth(self, data: st.DataObject, share: float, cancel: bool) -> None:
        """Complete an open pre-authorization for a share of it (the rest goes back, the
        completion is a sale of the batch), or cancel it (all goes back)."""
        held = self.paid[data.draw(st.sampled_from(self._open_preauths()))]
        account = CARDS[held.card]
        if cancel:
            answer = self._post(f"/v1/payments/{held.id}/cancel")
            assert answer.json()["status"] == "cancelled", answer.text
            held.status = "cancelled"
            self.available[account] += held.amount
            return
        amount = max(int(held.amount * share), 1)
        answer = self._post(f"/v1/payments/{held.id}/completion", {"amount_minor": amount})
        assert answer.json()["status"] == "approved", answer.text
        self.available[account] += held.amount - amount
        held.kind, held.amount = "purchase", amount
        self.batch.append(held.id)

    @rule()
    def close_batch(self) -> None:
        """In balance, with the model's totals; the next batch starts empty."""
        answer = self._post(f"/v1/terminals/{self.tid}/batch")
        assert answer.status_code == 200, answer.text
        closed = answer.json()
        sales = [self.paid[i] for i in self.batch if self.paid[i].kind != "refund"]
        refunds = [self.paid[i] for i in self.batch if self.paid[i].kind == "refund"]
        assert (closed["response_code"], closed["differences"]) == ("00", []), closed
        assert (closed["sales"], closed["sales_amount_minor"]) == (
            len(sales), sum(p.amount for p in sales))  # fmt: skip
        assert (closed["refunds"], closed["refunds_amount_minor"]) == (
            len(refunds), sum(p.amount for p in refunds))  # fmt: skip
        self.batch, self.last = [], None

    @invariant()
    def balances_are_the_models(self) -> None:
        """Each card's available balance in the ledger is what the model says."""
        if not self.available:
            return
        balances = available_balances(self.db)
        assert {a: balances[a][0] for a in self.available} == self.available


def test_the_merchant_api_keeps_the_money_right_over_sequences(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Random sequences of payments, refunds, voids, completions, cancels, retries and batch
    closes agree with the model at every step; the ledger passes its checker at the end."""
    server = _ServerThread(ServeConfig(port=0, terminals=3, broker=mosquitto.url,
                                       workdir=tmp_path, timeout_s=5.0))  # fmt: skip
    server.start()
    try:
        assert server.listening.wait(60), "tpesim serve did not start"
        MoneyMachine.server = server
        run_state_machine_as_test(
            MoneyMachine,
            settings=settings(
                max_examples=12,
                stateful_step_count=15,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        server.stop()
    report = check_ledger(tmp_path / "ledger.db")
    assert report.ok, report.render()
