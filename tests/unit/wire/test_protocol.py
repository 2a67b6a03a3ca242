"""Wire protocol: JSON round trips and format errors that name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.protocol import (
    MAX_PAYLOAD_BYTES,
    FinancialRequest,
    FormatError,
    NetworkRequest,
    OriginalDataElements,
    ReversalRequest,
    decode_request,
    decode_response,
    encode,
    topics,
)
from wire.protocol.trace import trace_event

PURCHASE = FinancialRequest(
    transmission_time="1123140322",
    stan=42,
    terminal_id="DZAL0001",
    pan="6280581110007215",
    processing_code="000000",
    amount=150000,
    local_time="150322",
    local_date="1123",
    expiry="2906",
    entry_mode="051",
    merchant_id="DZ0000000000101",
    currency="012",
)


def test_wire_form_uses_de_numbers_and_iso_formats() -> None:
    """DE4 is 12 digits, DE11 6 digits; keys are DE numbers; absent elements are left out."""
    wire = json.loads(encode(PURCHASE))
    assert wire["mti"] == "0200"
    assert wire["4"] == "000000150000"
    assert wire["11"] == "000042"
    assert wire["41"] == "DZAL0001"
    assert "52" not in wire


def test_round_trip_and_integer_amount_accepted() -> None:
    """Decoding what we encode gives the same message; an integer DE4 is accepted too."""
    assert decode_request(encode(PURCHASE)) == PURCHASE
    wire = json.loads(encode(PURCHASE))
    wire["4"] = 150000
    assert decode_request(json.dumps(wire).encode()) == PURCHASE


@given(
    amount=st.integers(0, 10**12 - 1),
    stan=st.integers(0, 999_999),
    pan=st.text(alphabet="0123456789", min_size=13, max_size=19),
)
def test_any_valid_purchase_round_trips(amount: int, stan: int, pan: str) -> None:
    """Every purchase the model accepts survives encode → decode unchanged."""
    message = PURCHASE.model_copy(update={"amount": amount, "stan": stan, "pan": pan})
    assert decode_request(encode(message)) == message


@pytest.mark.parametrize(
    ("patch", "field", "mti"),
    [
        ({"4": "15x"}, "4", "0200"),
        ({"4": True}, "4", "0200"),
        ({"2": "62805811"}, "2", "0200"),
        ({"7": "1332140322"}, "7", "0200"),
        ({"41": "dzal0001"}, "41", "0200"),
        ({"99": "x"}, "99", "0200"),
        ({"mti": "0999"}, "mti", "0999"),
    ],
)
def test_format_errors_name_the_field(patch: dict[str, object], field: str, mti: str) -> None:
    """A bad element is reported by DE number, with MTI and STAN salvaged."""
    wire = json.loads(encode(PURCHASE)) | patch
    with pytest.raises(FormatError) as caught:
        decode_request(json.dumps(wire).encode())
    assert caught.value.field == field
    assert caught.value.mti == mti
    assert caught.value.stan == 42
    assert len(caught.value.short) <= 25


def test_missing_field_and_response_mti() -> None:
    """A missing DE is named; an 0800 is answered with an 0810, an 0400 with an 0410."""
    with pytest.raises(FormatError) as caught:
        decode_request(b'{"mti": "0800", "11": "000007"}')
    assert caught.value.response_mti == "0810"
    assert caught.value.reason == "required field missing"
    with pytest.raises(FormatError) as caught:
        decode_request(b'{"mti": "0400"}')
    assert caught.value.response_mti == "0410"


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b"[1, 2]", b'"text"', b"\xff\xfe", b"{" + b" " * MAX_PAYLOAD_BYTES + b"}"],
)
def test_garbage_is_a_format_error_never_a_crash(payload: bytes) -> None:
    """Non-JSON, non-objects, invalid UTF-8 and oversized payloads are FormatErrors."""
    with pytest.raises(FormatError) as caught:
        decode_request(payload)
    assert caught.value.response_mti == "0210"


def test_a_trace_event_shows_the_message_masked_and_an_oversized_one_by_its_size() -> None:
    at = datetime(2026, 11, 23, 14, 3, 22, tzinfo=UTC)
    event = json.loads(trace_event("switch", "received", "DZAL0001", encode(PURCHASE), at=at))
    assert event["message"]["2"] == "628058******7215" and event["stan"] == 42
    padded = encode(PURCHASE)[:-1] + b" " * MAX_PAYLOAD_BYTES + b"}"
    event = json.loads(trace_event("switch", "received", "DZAL0001", padded, at=at))
    # Refused unread, so not parsed for its trace either: bounded work per message.
    assert event["message"] == {} and event["stan"] is None
    assert event["wire_bytes"] == len(padded)


@given(st.binary(max_size=300))
def test_decoder_survives_arbitrary_bytes(payload: bytes) -> None:
    """Whatever arrives, the decoder returns a message or raises FormatError."""
    try:
        decode_request(payload)
    except FormatError as error:
        short = error.short
    else:
        return
    assert len(short) <= 25


def test_format_error_text_never_contains_the_pan() -> None:
    """Errors are safe to log: they carry no field values."""
    wire = json.loads(encode(PURCHASE)) | {"2": "6280581110007215X"}
    with pytest.raises(FormatError) as caught:
        decode_request(json.dumps(wire).encode())
    assert "6280581110007215" not in str(caught.value)


def test_reversal_names_its_original() -> None:
    """DE90 carries the original MTI, STAN and DE7: the original's idempotency key."""
    original = OriginalDataElements(mti="0200", stan=42, transmission_time="1123140322")
    reversal = ReversalRequest(
        transmission_time="1123140400",
        stan=43,
        terminal_id="DZAL0001",
        pan=PURCHASE.pan,
        processing_code="000000",
        amount=150000,
        local_time="150400",
        local_date="1123",
        merchant_id="DZ0000000000101",
        currency="012",
        original_data=original.encode(),
    )
    assert len(reversal.original_data) == 42
    assert reversal.original_key == PURCHASE.key
    assert decode_request(encode(reversal)) == reversal


def test_responses_decode_and_requests_are_not_responses() -> None:
    """The terminal side decodes 0210/0410/0810 only."""
    sign_on = NetworkRequest(
        transmission_time="1123140322", stan=1, terminal_id="DZAL0001", network_code="001"
    )
    with pytest.raises(FormatError):
        decode_response(encode(sign_on))


def test_topics_attribute_requests_to_terminals() -> None:
    """Only tpe/{8-character TID}/req names a terminal."""
    assert topics.request("DZAL0001") == "tpe/DZAL0001/req"
    assert topics.terminal_of_request_topic("tpe/DZAL0001/req") == "DZAL0001"
    for topic in ("tpe/DZAL001/req", "tpe/dzal0001/req", "tpe/DZAL0001/resp", "x/DZAL0001/req"):
        assert topics.terminal_of_request_topic(topic) is None
