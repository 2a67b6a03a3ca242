"""Which request a response answers (wire.protocol.matching): every message kind, JSON and
ISO 8583 binary, with each echoed field altered in turn."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cards import default_card_set
from terminal import CardPresentation, RequestBuilder
from terminal.offline import offline_advice, offline_verdict
from wire import default_registry
from wire.protocol.codec import Encoding, FormatError, decode_request, decode_response, encode
from wire.protocol.matching import ECHOED_FIELDS, mismatch
from wire.protocol.messages import IsoMessage, ReversalAdvice
from wire.protocol.responses import error_response, format_error_response

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
CARD = CardPresentation.from_card(default_card_set().card("EDH-VALID"), default_card_set())


def _builder() -> RequestBuilder:
    profile = default_registry().get("DZAL0001")
    assert profile is not None
    return RequestBuilder(profile, first_stan=6)


def _requests() -> dict[str, IsoMessage]:
    """One request of every kind a terminal sends."""
    build = _builder()
    sale = build.purchase(CARD, 150_000, NOW)
    preauth = build.purchase(CARD, 90_000, NOW, preauth=True)
    advice = build.reversal_advice(sale, NOW)
    offline = offline_advice(sale, offline_verdict(sale, 200_000))
    return {
        "0200 purchase": sale,
        "0200 refund": build.purchase(CARD, 2_000, NOW, processing_code="200000"),
        "0200 balance": build.purchase(CARD, 0, NOW, processing_code="310000"),
        "0100": preauth,
        "0400": build.reversal(sale, NOW),
        "0420": advice,
        "0421": ReversalAdvice.model_validate({**advice.model_dump(), "mti": "0421"}),
        "0220 completion": build.completion(preauth, 80_000, NOW),
        "0220 offline": offline,
        "0800": build.sign_on(NOW),
        "0500": build.batch_close([], NOW),
    }


REQUESTS = _requests()


def _answer(request: IsoMessage, encoding: Encoding, **changes: object) -> IsoMessage:
    """The switch's answer to ``request`` (as the switch builds it: switch.responses.echo), with
    ``changes``, through the wire in ``encoding``."""
    response = error_response(request, "05", "do not honour")  # type: ignore[arg-type]
    if changes:
        response = response.model_validate({**response.model_dump(), **changes})
    return decode_response(encode(response, encoding), encoding)


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("kind", REQUESTS)
def test_the_switchs_answer_matches_its_request(kind: str, encoding: Encoding) -> None:
    """Every kind of answer the switch builds echoes all its request's identity and money."""
    assert mismatch(REQUESTS[kind], _answer(REQUESTS[kind], encoding)) is None


def _altered(value: object) -> object:
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, str)
    return value[:-1] + ("1" if value[-1] != "1" else "2")


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("kind", REQUESTS)
def test_an_answer_differing_in_any_echoed_field_is_stray(kind: str, encoding: Encoding) -> None:
    """Each field the request carries, altered by one digit (or left out) in the answer,
    makes the answer another request's."""
    request = REQUESTS[kind]
    checked = 0
    for number, name in ECHOED_FIELDS:
        sent = getattr(request, name, None)
        if sent is None:
            continue
        if name == "settlement_date":  # a day: 1207 → 1208 stays a valid MMDD
            changed: object = "1208"
        else:
            changed = _altered(sent)
        answer = _answer(request, encoding, **{name: changed})
        assert mismatch(request, answer) == f"DE{number} differs", (kind, number)
        checked += 1
        if name in {"processing_code", "amount", "original_data"}:
            missing = _answer(request, encoding, **{name: None})
            assert mismatch(request, missing) == f"DE{number} missing", (kind, number)
    assert checked >= 4


def test_an_answer_of_another_mti_is_stray() -> None:
    """A 0410 does not answer a 0200 of the same STAN and DE7, nor a 0210 an 0100."""
    sale, preauth = REQUESTS["0200 purchase"], REQUESTS["0100"]
    reversal_answer = _answer(REQUESTS["0400"], Encoding.JSON, stan=sale.stan)
    assert mismatch(sale, reversal_answer) == "MTI 0410 does not answer 0200"
    assert mismatch(preauth, _answer(sale, Encoding.JSON, stan=preauth.stan)) is not None


def test_a_refunds_stored_approval_does_not_answer_a_sale_under_its_stan() -> None:
    """Fuzz seed 5125: a refund's stored 00 and a sale sent under the same STAN and DE7 (a
    slipped STAN counter): the 00 echoes the refund's DE3, so it is not the sale's answer."""
    build = _builder()
    refund = build.purchase(CARD, 2_000, NOW, processing_code="200000")
    sale = build.purchase(CARD, 113_700, NOW).model_copy(update={"stan": refund.stan})
    stored = error_response(refund, "00", "")
    assert (sale.stan, sale.transmission_time) == (stored.stan, stored.transmission_time)
    assert mismatch(sale, stored) == "DE3 differs"
    same_code = build.purchase(CARD, 2_100, NOW).model_copy(update={"stan": refund.stan})
    other_sale = error_response(same_code, "00", "")
    assert mismatch(sale, other_sale) == "DE4 differs"


def test_a_format_error_echoes_what_it_could_read_so_its_sender_can_match_it() -> None:
    """A request refused 30 for a field that is not part of its identity gets a 30 that
    echoes DE7, DE3 and DE4; one whose DE4 is unreadable gets a 30 its sender cannot take."""
    sale = REQUESTS["0200 purchase"]
    wire = json.loads(encode(sale))
    wire["43"] = "x" * 200
    with pytest.raises(FormatError) as bad_name:
        decode_request(json.dumps(wire).encode())
    answer = format_error_response(bad_name.value, sale.terminal_id, NOW)
    assert answer.response_code == "30"
    assert mismatch(sale, answer) is None
    wire = json.loads(encode(sale))
    wire["4"] = "15.00"
    with pytest.raises(FormatError) as bad_amount:
        decode_request(json.dumps(wire).encode())
    answer = format_error_response(bad_amount.value, sale.terminal_id, NOW)
    assert answer.response_code == "30" and answer.stan == sale.stan
    assert mismatch(sale, answer) == "DE4 missing"
