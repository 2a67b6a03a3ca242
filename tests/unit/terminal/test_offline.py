"""Offline approvals: the terminal's own verdict under and above its floor limit, and the 0220
advice that reports it, which the switch's codec tells apart from a completion."""

from __future__ import annotations

from datetime import UTC, datetime

from cards import default_card_set
from terminal import CardPresentation, RequestBuilder
from terminal.offline import offline_advice, offline_verdict
from wire import default_registry
from wire.protocol import decode_request, encode
from wire.protocol.messages import CompletionAdvice, FinancialRequest, OfflineAdvice

CARDS = default_card_set()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _sale(amount: int) -> tuple[RequestBuilder, FinancialRequest]:
    profile = default_registry().get("DZAN0017")
    assert profile is not None
    build = RequestBuilder(profile)
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    return build, build.purchase(card, amount, NOW)


def test_up_to_the_floor_limit_approved_offline_above_declined() -> None:
    _, sale = _sale(5_000)
    approved = offline_verdict(sale, floor_limit=5_000)
    assert (approved.response_code, approved.auth_code) == ("Y3", "Y30001")
    _, big = _sale(5_001)
    declined = offline_verdict(big, floor_limit=5_000)
    assert (declined.response_code, declined.auth_code) == ("Z3", None)


def test_the_advice_is_an_0220_without_de90_and_decodes_as_one() -> None:
    build, sale = _sale(3_000)
    advice = offline_advice(sale, offline_verdict(sale, 5_000))
    wire = encode(advice)
    decoded = decode_request(wire)
    assert isinstance(decoded, OfflineAdvice) and decoded.mti == "0220"
    assert (decoded.amount, decoded.auth_code, decoded.response_code) == (3_000, "Y30001", "Y3")
    assert decoded.key == sale.key
    preauth = build.purchase(CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS), 9_000,
                             NOW, preauth=True)  # fmt: skip
    completion = build.completion(preauth, 8_000, NOW)
    assert isinstance(decode_request(encode(completion)), CompletionAdvice)
