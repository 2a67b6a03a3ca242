"""The merchant API over real Mosquitto and a real switch: a sale, a decline, a timeout, a
refund, pre-authorizations, the batch; idempotency keys; and bad input refused with a problem
naming the field before anything reaches the switch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from cards import default_card_set
from switch.security import SecurityModule, load_keys
from switch.service import SwitchService
from switch.startup import running_switch
from terminal import Terminal
from tests.conftest import MosquittoProcess
from tests.deadlines import HandDeadlines, answer_withheld
from tests.mqtt_helpers import next_on, observer
from tpesim.api.app import create_app
from tpesim.api.back_office import back_office_router
from tpesim.api.desk import PaymentDesk
from tpesim.fleet import connected_fleet
from tpesim.scenario.trace import available_balances
from tpesim.wallet import Wallet
from wire import default_registry
from wire.clock import SystemClock
from wire.protocol import topics
from wire.transport.base import BrokerUrl

pytestmark = pytest.mark.integration

CARDS = default_card_set()
REGISTRY = default_registry()
TIDS = ("DZAL0021", "FRWB0002", "TNTU0021")


class Api:
    def __init__(
        self, client: httpx.AsyncClient, switch: SwitchService, db: Path, broker: BrokerUrl
    ) -> None:
        self.client, self.switch, self.db, self.broker = client, switch, db, broker
        self.deadlines = HandDeadlines()
        """Every terminal's wait for an answer: it ends only when a test passes it."""
        self.terminals: Mapping[str, Terminal] = {}

    async def pay(self, tid: str = "DZAL0021", **body: Any) -> httpx.Response:
        return await self.client.post(f"/v1/terminals/{tid}/payments", json=body)

    async def refund(self, payment_id: str, key: str, amount: int | None = None) -> Any:
        """Refund ``payment_id`` (in full without ``amount``): the payment, as JSON."""
        body: dict[str, Any] = {"idempotency_key": key}
        if amount is not None:
            body["amount_minor"] = amount
        response = await self.client.post(f"/v1/payments/{payment_id}/refund", json=body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def api(mosquitto: MosquittoProcess, tmp_path: Path) -> AsyncIterator[Api]:
    security = SecurityModule(load_keys())
    profiles = [p for p in (REGISTRY.get(t) for t in TIDS) if p is not None]
    db = tmp_path / "ledger.db"
    async with (
        running_switch(broker=mosquitto.url, db_path=db, cards=CARDS, registry=REGISTRY,
                       security=security) as switch,
        connected_fleet(profiles, mosquitto.url, clock=SystemClock(), timeout_s=30.0,
                        key_injection=security) as terminals,
    ):  # fmt: skip
        desk = PaymentDesk(terminals, CARDS, Wallet(CARDS, security))
        office = back_office_router(switch.processor.ledger, CARDS, SystemClock())
        transport = httpx.ASGITransport(app=create_app(desk, office))
        async with httpx.AsyncClient(transport=transport, base_url="http://tpe") as client:
            api = Api(client, switch, db, mosquitto.url)
            api.terminals = terminals
            for terminal in terminals.values():
                terminal.channel.deadline = api.deadlines
            yield api


async def test_a_sale_its_replay_a_refund_and_the_batch(api: Api) -> None:
    sale = await api.pay(amount_minor=150_000, currency="DZD", card_id="EDH-VALID",
                         idempotency_key="order-1")  # fmt: skip
    assert sale.status_code == 201, sale.text
    body = sale.json()
    assert (body["status"], body["response_code"], body["kind"]) == ("approved", "00", "purchase")
    assert "TRANSACTION ACCEPTEE" in body["receipt"] and body["masked_pan"].startswith("628058")
    again = await api.pay(amount_minor=150_000, currency="DZD", card_id="EDH-VALID",
                          idempotency_key="order-1")  # fmt: skip
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert available_balances(api.db)["CCP-0001001"][0] == 15_000_000 - 150_000  # charged once
    fetched = await api.client.get(f"/v1/payments/{body['id']}")
    assert fetched.json() == body
    refund = await api.client.post(
        f"/v1/payments/{body['id']}/refund",
        json={"amount_minor": 50_000, "idempotency_key": "rf-1"},
    )
    assert refund.status_code == 201, refund.text
    assert (refund.json()["kind"], refund.json()["status"]) == ("refund", "approved")
    batch = await api.client.post("/v1/terminals/DZAL0021/batch")
    assert batch.json()["in_balance"] is True
    assert (batch.json()["sales_amount_minor"], batch.json()["refunds_amount_minor"]) == (
        150_000, 50_000)  # fmt: skip


async def test_refunds_never_give_back_more_than_the_sale_took(api: Api) -> None:
    """Issue 20, item 2: a 2 500,00 DA sale, then three 2 000,00 refunds: the first is
    approved, the others declined 13 (the sale has 500,00 left); 500,00 then goes, and the
    batch counts 2 500,00 given back. A completed pre-authorization is refundable up to what
    was captured (600,00 of 900,00)."""
    sale = (await api.pay(amount_minor=250_000, currency="DZD", card_id="EDH-VALID",
                          idempotency_key="big-sale")).json()  # fmt: skip
    assert sale["status"] == "approved"
    refunds = [await api.refund(sale["id"], f"r{n}", 200_000) for n in range(3)]
    verdicts = [(r["status"], r["response_code"]) for r in refunds]
    assert verdicts == [("approved", "00"), ("declined", "13"), ("declined", "13")]
    assert refunds[1]["reason"] == "over what the sale left"
    assert (await api.refund(sale["id"], "r-rest", 50_000))["status"] == "approved"
    preauth = (await api.pay(amount_minor=90_000, currency="DZD", card_id="CIB-VALID",
                             preauth=True, idempotency_key="pa")).json()  # fmt: skip
    done = await api.client.post(f"/v1/payments/{preauth['id']}/completion",
                                 json={"amount_minor": 60_000})  # fmt: skip
    assert done.json()["status"] == "approved", done.text
    assert (await api.refund(preauth["id"], "pa-r1", 40_000))["status"] == "approved"
    assert (await api.refund(preauth["id"], "pa-r2", 20_001))["response_code"] == "13"
    assert (await api.refund(preauth["id"], "pa-r3"))["response_code"] == "13"  # all 60 000
    batch = (await api.client.post("/v1/terminals/DZAL0021/batch")).json()
    assert batch["in_balance"] is True
    assert batch["refunds_amount_minor"] == 250_000 + 40_000


async def test_concurrent_requests_do_not_split_a_payment(api: Api) -> None:
    """An attacker's review of issue 20: three parallel payments under one key are one charge
    (201 once, 200 twice, one id); three parallel refunds under one key one refund; a refund
    and a void of the same sale in parallel never void the refund in the sale's name; two
    parallel completions capture once, and the record says so."""
    body: dict[str, Any] = {"amount_minor": 12_300, "currency": "DZD", "card_id": "EDH-VALID",
                            "idempotency_key": "same"}  # fmt: skip
    before = available_balances(api.db)["CCP-0001001"][0]
    paid = await asyncio.gather(*(api.pay(**body) for _ in range(3)))
    assert sorted(r.status_code for r in paid) == [200, 200, 201]
    assert len({r.json()["id"] for r in paid}) == 1
    assert available_balances(api.db)["CCP-0001001"][0] == before - 12_300
    sale = paid[0].json()
    refunds = await asyncio.gather(*(
        api.client.post(f"/v1/payments/{sale['id']}/refund",
                        json={"amount_minor": 3_000, "idempotency_key": "one-refund"})
        for _ in range(3)
    ))  # fmt: skip
    assert sorted(r.status_code for r in refunds) == [200, 200, 201]
    assert len({r.json()["id"] for r in refunds}) == 1
    other = (await api.pay(amount_minor=5_000, currency="DZD", card_id="EDH-VALID",
                           idempotency_key="race")).json()  # fmt: skip
    refund, void = await asyncio.gather(
        api.client.post(f"/v1/payments/{other['id']}/refund",
                        json={"amount_minor": 1_000, "idempotency_key": "race-r"}),
        api.client.post(f"/v1/payments/{other['id']}/void"),
    )  # fmt: skip
    voided = void.status_code == 200
    assert (refund.status_code, void.status_code) in ((201, 409), (409, 200))
    sale_now = (await api.client.get(f"/v1/payments/{other['id']}")).json()
    assert sale_now["status"] == ("cancelled" if voided else "approved")
    if not voided:
        assert refund.json()["status"] == "approved"
    preauth = (await api.pay(amount_minor=30_000, currency="DZD", card_id="CIB-VALID",
                             preauth=True, idempotency_key="pa-race")).json()  # fmt: skip
    done = await asyncio.gather(*(
        api.client.post(f"/v1/payments/{preauth['id']}/completion", json={"amount_minor": n})
        for n in (20_000, 25_000)
    ))  # fmt: skip
    assert sorted(r.status_code for r in done) == [200, 409]
    record = (await api.client.get(f"/v1/payments/{preauth['id']}")).json()
    won = next(r.json() for r in done if r.status_code == 200)
    assert (record["kind"], record["status"], record["amount_minor"]) == (
        "purchase", "approved", won["amount_minor"])  # fmt: skip


async def test_a_declined_completion_leaves_the_preauth_open_and_cash_is_not_refunded(
    api: Api,
) -> None:
    """Completing above the hold is declined 13 and the pre-authorization stays open (it can
    be cancelled); a purchase with cash-back refunds its goods, never the cash."""
    preauth = (await api.pay(amount_minor=30_000, currency="DZD", card_id="CIB-VALID",
                             preauth=True, idempotency_key="pa-over")).json()  # fmt: skip
    over = await api.client.post(f"/v1/payments/{preauth['id']}/completion",
                                 json={"amount_minor": 30_001})  # fmt: skip
    assert (over.json()["status"], over.json()["response_code"]) == ("declined", "13")
    kept = (await api.client.get(f"/v1/payments/{preauth['id']}")).json()
    assert (kept["kind"], kept["status"]) == ("preauth", "approved")
    cancelled = await api.client.post(f"/v1/payments/{preauth['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    sale = (await api.pay(amount_minor=10_000, cash_back_minor=50_000, currency="DZD",
                          card_id="EDH-VALID", idempotency_key="cb-goods")).json()  # fmt: skip
    assert sale["amount_minor"] == 60_000
    over_goods = {"amount_minor": 10_001, "idempotency_key": "cb-r1"}
    too_much = await api.client.post(f"/v1/payments/{sale['id']}/refund", json=over_goods)
    assert too_much.status_code == 422
    whole = await api.refund(sale["id"], "cb-r2")
    assert (whole["status"], whole["amount_minor"]) == ("approved", 10_000)


async def test_a_second_batch_close_reconciles_only_the_new_batch(api: Api) -> None:
    """Issue 20, item 3: two closes in a row answer 00 both, the second with empty totals;
    a sale after them makes a third batch of its own, in balance."""
    await api.pay(amount_minor=1_000, currency="DZD", card_id="EDH-VALID", idempotency_key="b1")
    first = (await api.client.post("/v1/terminals/DZAL0021/batch")).json()
    second = (await api.client.post("/v1/terminals/DZAL0021/batch")).json()
    assert (first["response_code"], first["sales"], first["sales_amount_minor"]) == ("00", 1, 1_000)
    assert (second["response_code"], second["sales"], second["differences"]) == ("00", 0, [])
    assert second["batch_number"] == first["batch_number"] + 1
    await api.pay(amount_minor=2_000, currency="DZD", card_id="EDH-VALID", idempotency_key="b2")
    third = (await api.client.post("/v1/terminals/DZAL0021/batch")).json()
    assert (third["response_code"], third["sales"], third["sales_amount_minor"]) == ("00", 1, 2_000)


async def test_the_back_office_unblocks_blocks_and_sets_a_balance(api: Api) -> None:
    """Issue 20, item 6 over HTTP: a card locked by three wrong PINs pays again once
    unblocked; a blocked card is declined 62; a balance set to 50,00 DA declines 50,01 (51);
    the card's events list all three; bad input is 422 or 404 and changes nothing."""
    codes = [(await api.pay(amount_minor=1_000, currency="DZD", card_id="CIB-VALID", pin=pin,
                            idempotency_key=f"pin-{n}")).json()["response_code"]
             for n, pin in enumerate(("0000", "9999", "1111"))]  # fmt: skip
    assert codes == ["55", "55", "75"]
    unblocked = await api.client.post("/v1/cards/CIB-VALID/unblock", json={"reason": "called"})
    assert unblocked.status_code == 200, unblocked.text
    assert unblocked.json()["detail"] == {"reason": "called"}
    again = await api.pay(
        amount_minor=1_000, currency="DZD", card_id="CIB-VALID", idempotency_key="pin-ok"
    )
    assert again.json()["response_code"] == "00"
    assert (await api.client.post("/v1/cards/CIB-VALID/block")).status_code == 200
    blocked = await api.pay(
        amount_minor=1_000, currency="DZD", card_id="CIB-VALID", idempotency_key="blk"
    )
    assert (blocked.json()["response_code"], blocked.json()["status"]) == ("62", "declined")
    assert blocked.json()["reason"] == "blocked by issuer"
    await api.client.post("/v1/cards/CIB-VALID/unblock")
    assert (await api.client.put("/v1/cards/CIB-VALID/balance",
                                 json={"available_minor": 5_000})).status_code == 200  # fmt: skip
    short = await api.pay(
        amount_minor=5_001, currency="DZD", card_id="CIB-VALID", idempotency_key="bal"
    )
    assert short.json()["response_code"] == "51"
    events = (await api.client.get("/v1/cards/CIB-VALID/events")).json()
    assert [e["action"] for e in events] == ["unblock", "block", "unblock", "set-balance"]
    before = available_balances(api.db)
    for method, path, body in (
        ("PUT", "/v1/cards/CIB-VALID/balance", {"available_minor": "50.00"}),
        ("PUT", "/v1/cards/CIB-VALID/balance", {"available_minor": -1}),
        ("POST", "/v1/cards/NOPE/block", {}),
        ("GET", "/v1/cards/NOPE/events", None),
        ("POST", "/v1/cards/CIB-VALID/block", {"reason": "\u202e"}),
        ("POST", "/v1/cards/CIB-VALID/block", {"reason": "two\nlines"}),
    ):
        bad = await api.client.request(method, path, json=body)
        assert bad.status_code in (404, 422), bad.text
    assert available_balances(api.db) == before
    assert len((await api.client.get("/v1/cards/CIB-VALID/events")).json()) == 4


async def test_a_decline_and_a_timeout_are_payments_too(api: Api) -> None:
    declined = await api.pay(amount_minor=7_751, currency="DZD", card_id="EDH-VALID",
                             idempotency_key="d-1")  # fmt: skip
    assert (declined.json()["status"], declined.json()["response_code"]) == ("declined", "51")
    assert declined.json()["meaning"] == "Insufficient funds"
    async with observer(api.broker, topics.trace("DZAL0021")) as (_, trace):
        sale = api.pay(amount_minor=7_799, currency="DZD", card_id="EDH-VALID",
                       idempotency_key="t-1")  # fmt: skip
        paying = asyncio.create_task(sale)
        await next_on(trace, topics.trace("DZAL0021"), where=answer_withheld)
        assert await api.deadlines.pass_waiting() == 1  # the terminal gives up on its 0200
        timeout = await paying
    assert timeout.status_code == 201
    assert (timeout.json()["status"], timeout.json()["response_code"],
            timeout.json()["reversal"]) == ("timeout", None, "acknowledged")  # fmt: skip


async def test_pre_authorization_completed_and_another_cancelled(api: Api) -> None:
    hotel = (await api.pay(amount_minor=90_000, currency="DZD", card_id="CIB-VALID",
                           preauth=True, idempotency_key="h-1")).json()  # fmt: skip
    assert (hotel["kind"], hotel["status"]) == ("preauth", "approved")
    done = await api.client.post(f"/v1/payments/{hotel['id']}/completion",
                                 json={"amount_minor": 85_000})  # fmt: skip
    assert (done.json()["status"], done.json()["amount_minor"]) == ("approved", 85_000)
    car = (await api.pay(amount_minor=50_000, currency="DZD", card_id="CIB-VALID",
                         preauth=True, idempotency_key="c-1")).json()  # fmt: skip
    cancelled = await api.client.post(f"/v1/payments/{car['id']}/cancel")
    verdict = (cancelled.json()["status"], cancelled.json()["reversal"])
    assert verdict == ("cancelled", "acknowledged")
    again = await api.client.post(f"/v1/payments/{car['id']}/cancel")
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("tid", "body", "status", "field"),
    [
        ("DZAL0021", {"amount_minor": 100, "currency": "TND", "card_id": "EDH-VALID",
                      "idempotency_key": "x"}, 422, "currency"),
        ("DZAL0021", {"amount_minor": -5, "currency": "DZD", "card_id": "EDH-VALID",
                      "idempotency_key": "x"}, 422, "amount_minor"),
        ("DZAL0021", {"amount_minor": 100, "currency": "DZD", "card_id": "NO-SUCH",
                      "idempotency_key": "x"}, 422, "card_id"),
        ("DZAL0021", {"amount_minor": 100, "currency": "DZD", "pan": "12",
                      "idempotency_key": "x"}, 422, "pan"),
        ("DZAL0021", {"amount_minor": 100, "currency": "DZD", "idempotency_key": "x"}, 422,
         None),
        ("DZAL0021", {"amount_minor": 100, "currency": "DZD", "card_id": "EDH-VALID"}, 422,
         "idempotency_key"),
        ("DZAL0021", {"amount_minor": 100, "currency": "DZD", "card_id": "EDH-VALID",
                      "idempotency_key": "x", "tip": 5}, 422, "tip"),
        ("XXXX0000", {"amount_minor": 100, "currency": "DZD", "card_id": "EDH-VALID",
                      "idempotency_key": "x"}, 404, None),
    ],
)  # fmt: skip
async def test_bad_input_is_a_problem_naming_the_field_and_nothing_is_sent(
    api: Api, tid: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    before = sum(api.switch.processor.stats.requests.values())
    response = await api.pay(tid, **body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["field"]) == (status, field)
    assert problem["title"] and problem["detail"]
    assert sum(api.switch.processor.stats.requests.values()) == before


LOOSE_AMOUNTS = ('"15.00"', '"1500"', "1500.0", "1e3", "1E3", "true", "15e-1", '"0x10"')
"""JSON values that are not an integer of minor units (``1e3`` is a float in JSON)."""


async def test_money_is_a_json_integer_everywhere(api: Api) -> None:
    """A payment, a refund and a completion whose amount is a string, a float, an exponent or
    a boolean get 422 naming the field; nothing reaches the switch and nothing moves."""
    sale = await api.pay(amount_minor=2_000, currency="DZD", card_id="EDH-VALID",
                         idempotency_key="strict-1")  # fmt: skip
    preauth = await api.pay(amount_minor=2_000, currency="DZD", card_id="EDH-VALID",
                            preauth=True, idempotency_key="strict-2")  # fmt: skip
    assert sale.status_code == preauth.status_code == 201
    balances = available_balances(api.db)
    before = sum(api.switch.processor.stats.requests.values())
    pay = '{"currency": "DZD", "card_id": "EDH-VALID", "idempotency_key": "strict-3", '
    cases: list[tuple[str, str, str | None]] = [
        *[("/v1/terminals/DZAL0021/payments", f'{pay}"amount_minor": {v}}}', "amount_minor")
          for v in LOOSE_AMOUNTS],
        *[("/v1/terminals/DZAL0021/payments",
           f'{pay}"amount_minor": 1500, "cash_back_minor": {v}}}', "cash_back_minor")
          for v in LOOSE_AMOUNTS],
        ("/v1/terminals/DZAL0021/payments", f'{pay}"amount_minor": 1500, "preauth": "yes"}}',
         "preauth"),
        *[(f"/v1/payments/{sale.json()['id']}/refund", f'{{"amount_minor": {v}}}',
           "amount_minor") for v in LOOSE_AMOUNTS],
        *[(f"/v1/payments/{preauth.json()['id']}/completion", f'{{"amount_minor": {v}}}',
           "amount_minor") for v in LOOSE_AMOUNTS],
    ]  # fmt: skip
    payments = "/v1/terminals/DZAL0021/payments"
    cases += [
        (payments, f'{pay}"amount_minor": 1000000000000}}', "amount_minor"),  # 13 digits
        (payments, f'{pay}"amount_minor": 999999999999, "cash_back_minor": 1}}', None),
        (payments, '{"amount_minor": 1500,', None),  # not JSON: no field to name
    ]
    for path, body, field in cases:
        response = await api.client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["field"] == field, (path, body)
    assert sum(api.switch.processor.stats.requests.values()) == before
    assert available_balances(api.db) == balances


async def test_a_reused_key_with_another_body_is_a_conflict(api: Api) -> None:
    first = await api.pay(amount_minor=1_000, currency="DZD", card_id="EDH-VALID",
                          idempotency_key="k")  # fmt: skip
    assert first.status_code == 201
    other = await api.pay(amount_minor=2_000, currency="DZD", card_id="EDH-VALID",
                          idempotency_key="k")  # fmt: skip
    assert other.status_code == 409 and other.json()["field"] == "idempotency_key"


async def test_terminals_and_the_openapi_document(api: Api) -> None:
    listed = (await api.client.get("/v1/terminals")).json()
    assert [t["id"] for t in listed] == sorted(TIDS) and all(t["connected"] for t in listed)
    assert {t["currency"] for t in listed} == {"DZD", "EUR", "TND"}
    spec = (await api.client.get("/openapi.json")).json()
    assert "/v1/terminals/{terminal_id}/payments" in spec["paths"]
    assert spec["info"]["version"] == "1.0.0"


async def test_cash_back_a_balance_inquiry_and_a_void(api: Api) -> None:
    """A purchase with cash-back charges the whole; a balance inquiry says what is left and
    charges nothing; the last sale is voided once, then nothing is voidable."""
    sale = await api.pay(amount_minor=150_000, currency="DZD", card_id="EDH-VALID",
                         cash_back_minor=200_000, idempotency_key="cb-1")  # fmt: skip
    assert sale.status_code == 201, sale.text
    body = sale.json()
    assert (body["status"], body["amount_minor"], body["cash_back_minor"]) == (
        "approved", 350_000, 200_000)  # fmt: skip
    asked = await api.client.post("/v1/terminals/DZAL0021/balance-inquiries",
                                  json={"card_id": "EDH-VALID"})  # fmt: skip
    assert asked.status_code == 200, asked.text
    assert (asked.json()["response_code"], asked.json()["available_minor"]) == (
        "00", 15_000_000 - 350_000)  # fmt: skip
    assert "SOLDE DISPONIBLE" in asked.json()["receipt"]
    voided = await api.client.post(f"/v1/payments/{body['id']}/void")
    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["reversal"]) == ("cancelled", "acknowledged")
    assert available_balances(api.db)["CCP-0001001"][0] == 15_000_000
    again = await api.client.post(f"/v1/payments/{body['id']}/void")
    assert again.status_code == 409
    replayed = await api.pay(amount_minor=150_000, currency="DZD", card_id="EDH-VALID",
                             cash_back_minor=200_000, idempotency_key="cb-1")  # fmt: skip
    assert (replayed.status_code, replayed.json()["status"]) == (200, "cancelled")  # as it is now
    preauth = await api.pay(amount_minor=1_000, currency="DZD", card_id="EDH-VALID",
                            preauth=True, cash_back_minor=500, idempotency_key="cb-2")  # fmt: skip
    assert preauth.status_code == 422
    unknown = await api.client.post("/v1/terminals/DZAL0021/balance-inquiries",
                                    json={"card_id": "NOPE"})  # fmt: skip
    assert (unknown.status_code, unknown.json()["field"]) == (422, "card_id")


async def test_a_web_shop_abroad_is_paid_on_its_payment_page(api: Api) -> None:
    """At the Paris web shop, a Tunisian CTI card pays 19,99 EUR by CVV2 (entry ecommerce): the
    payment says what the card's account was debited; a chip entry there is refused 57."""
    paid = await api.pay("FRWB0002", amount_minor=1_999, currency="EUR", card_id="TN-CTI",
                         entry="ecommerce", idempotency_key="web-1")  # fmt: skip
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert (body["status"], body["amount_minor"], body["currency"]) == ("approved", 1_999, "EUR")
    assert (body["billed_minor"], body["billed_currency"]) == (68_366, "TND")
    assert available_balances(api.db)["TN-STB-0004002"][0] == 2_400_750 - 68_366
    at_a_tpe = await api.pay("FRWB0002", amount_minor=1_999, currency="EUR", card_id="TN-CTI",
                             idempotency_key="web-2")  # fmt: skip
    assert at_a_tpe.json()["response_code"] == "57"
