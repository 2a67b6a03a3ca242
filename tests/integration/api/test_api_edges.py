"""The merchant API's money rules at their edges (found by ``scripts/mutate tpesim/api/desk.py``):
what can be refunded (an approved purchase only, and a refund's replay stays a replay after its
sale was voided), a payment by PAN, what can be voided, and the statuses of each refusal."""

from __future__ import annotations

import pytest

from cards import default_card_set
from cards.masking import mask_pan
from tests.integration.api.test_api import Api, api  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

CARDS = default_card_set()


async def _paid(api: Api, key: str, **body: object) -> dict[str, object]:  # noqa: F811
    card: dict[str, object] = {} if "pan" in body else {"card_id": "EDH-VALID"}
    fields = {"amount_minor": 50_000, "currency": "DZD", "idempotency_key": key} | card | body
    response = await api.client.post("/v1/terminals/DZAL0021/payments", json=fields)
    assert response.status_code == 201, response.text
    payment: dict[str, object] = response.json()
    return payment


async def test_an_unknown_payment_is_404(api: Api) -> None:  # noqa: F811
    for path in ("/v1/payments/nothing", "/v1/payments/DZAL0021-000001-1123130000"):
        response = await api.client.get(path)
        assert (response.status_code, response.json()["title"]) == (404, "no such payment")


async def test_a_payment_by_pan_uses_that_card_and_an_unknown_pan_is_422(
    api: Api,  # noqa: F811
) -> None:
    pan = CARDS.card("CIB-VALID").pan
    paid = await _paid(api, "by-pan", pan=pan)
    assert (paid["status"], paid["masked_pan"]) == ("approved", mask_pan(pan))
    unknown = await api.pay(amount_minor=5_000, currency="DZD", pan="4111111111111111",
                            idempotency_key="by-pan-2")  # fmt: skip
    problem = unknown.json()
    assert (unknown.status_code, problem["title"], problem["field"]) == (422, "unknown card", "pan")


@pytest.mark.parametrize("what", ["a declined purchase", "an approved pre-authorization"])
async def test_only_an_approved_purchase_can_be_refunded(api: Api, what: str) -> None:  # noqa: F811
    if what == "a declined purchase":
        payment = await _paid(api, "no", amount_minor=7_751)  # magic: 51
        assert payment["status"] == "declined"
    else:
        payment = await _paid(api, "pa", preauth=True)
        assert (payment["status"], payment["kind"]) == ("approved", "preauth")
    refused = await api.client.post(f"/v1/payments/{payment['id']}/refund",
                                    json={"idempotency_key": "r"})  # fmt: skip
    assert (refused.status_code, refused.json()["title"]) == (409, "not refundable")


async def test_a_refund_replayed_after_its_sale_was_voided_is_still_the_same_refund(
    api: Api,  # noqa: F811
) -> None:
    """The key is looked up first: a refund asked again gives back what it gave the first
    time, whatever became of its sale since (here: declined, then the sale voided)."""
    sale = await _paid(api, "sale")
    body = {"idempotency_key": "refund-1", "amount_minor": 7_751}  # magic: 51
    refund = await api.client.post(f"/v1/payments/{sale['id']}/refund", json=body)
    assert refund.json()["status"] == "declined"
    voided = await api.client.post(f"/v1/payments/{sale['id']}/void")
    assert voided.json()["status"] == "cancelled"
    again = await api.client.post(f"/v1/payments/{sale['id']}/refund", json=body)
    assert (again.status_code, again.json()["id"]) == (200, refund.json()["id"])
    other = await api.client.post(f"/v1/payments/{sale['id']}/refund",
                                  json={"idempotency_key": "refund-2"})  # fmt: skip
    assert (other.status_code, other.json()["title"]) == (409, "not refundable")


async def test_what_is_not_the_last_approved_sale_cannot_be_voided(api: Api) -> None:  # noqa: F811
    declined = await _paid(api, "declined-first", amount_minor=7_751)
    refused = await api.client.post(f"/v1/payments/{declined['id']}/void")
    assert (refused.status_code, refused.json()["title"]) == (409, "not voidable")
    preauth = await _paid(api, "pa-void", preauth=True)
    refused = await api.client.post(f"/v1/payments/{preauth['id']}/void")
    assert (refused.status_code, refused.json()["title"]) == (409, "not voidable")


async def test_a_terminal_without_power_is_503_for_a_payment_and_a_void(
    api: Api,  # noqa: F811
) -> None:
    sale = await _paid(api, "before-the-cut")
    api.terminals["DZAL0021"].powered = False
    for response in (
        await api.client.post("/v1/terminals/DZAL0021/payments", json={
            "amount_minor": 5_000, "currency": "DZD", "card_id": "EDH-VALID",
            "idempotency_key": "in-the-dark"}),
        await api.client.post(f"/v1/payments/{sale['id']}/void"),
    ):  # fmt: skip
        assert (response.status_code, response.json().get("title")) == (
            503, "terminal unavailable"), response.text  # fmt: skip


async def test_a_slipped_stan_never_overwrites_the_payment_it_collides_with(
    api: Api,  # noqa: F811
) -> None:
    """A terminal whose STAN counter slipped sends its next sale under the previous one's key
    (STAN and DE7), which the switch refuses (94). The API keeps both payments: the approved
    one stays approved and voidable, the refused one has an id of its own and voids nothing."""
    first = await _paid(api, "slip-a")
    api.terminals["DZAL0021"].reuse_key = True
    second = await _paid(api, "slip-b", amount_minor=60_000)
    assert (second["status"], second["response_code"]) == ("declined", "94")
    assert second["id"] == f"{first['id']}-2"
    assert (await api.client.get(f"/v1/payments/{first['id']}")).json() == first
    refused = await api.client.post(f"/v1/payments/{second['id']}/void")
    assert (refused.status_code, refused.json()["title"]) == (409, "not voidable")
    voided = await api.client.post(f"/v1/payments/{first['id']}/void")
    assert (voided.status_code, voided.json()["status"]) == (200, "cancelled")
    assert (await api.client.get(f"/v1/payments/{second['id']}")).json() == second
