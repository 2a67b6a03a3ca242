"""Malformed input at the decoders JSON fuzzing does not reach: ISO 8583 binary requests and
responses, `tpesim decode`, and the PIN block formats. Hypothesis damages real messages (bytes
flipped, cut, inserted, bitmap bits set, length prefixes changed) and sends raw bytes; every
decoder either returns a value or raises its own error, whose text is short enough for DE44
and never holds the PAN. A fixed budget of examples, derandomized, so CI runs the same cases
every time (test_hostile_input.py does the same for JSON, through the whole switch)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cards import default_card_set
from cards.crypto.pinblock import (
    PinBlockError,
    decipher_iso4,
    decode_iso0,
    decode_iso1,
    decode_iso3,
)
from terminal import CardPresentation, RequestBuilder
from tpesim.cli.decode import decode_message, render
from wire import default_registry
from wire.protocol import FormatError, decode_request, decode_response, encode
from wire.protocol.codec import Encoding
from wire.protocol.responses import error_response

BUDGET = settings(max_examples=600, deadline=None, derandomize=True, database=None)
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
_CARDS = default_card_set()
CARD = CardPresentation.from_card(_CARDS.card("EDH-VALID"), _CARDS)


def _messages() -> tuple[list[bytes], list[bytes]]:
    """Real requests of a terminal in ISO 8583 binary, and the switch's answers to them."""
    profile = default_registry().get("DZAL0001")
    assert profile is not None
    build = RequestBuilder(profile)
    purchase = build.purchase(CARD, 1_500, NOW, icc_data="9F02060000000015009F370401020304")
    requests = [purchase, build.sign_on(NOW), build.reversal_advice(purchase, NOW),
                build.batch_close([], NOW)]  # fmt: skip
    answers = [error_response(request, "05", "") for request in requests]  # type: ignore[arg-type]
    return ([encode(m, Encoding.ISO8583) for m in requests],
            [encode(m, Encoding.ISO8583) for m in answers])  # fmt: skip


REQUESTS, RESPONSES = _messages()


@st.composite
def damaged(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """One of ``seeds`` with up to four wounds: a byte changed, a cut, bytes inserted, a bit
    of the (primary or secondary) bitmap or of a length prefix flipped."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        wound = draw(st.sampled_from(["change", "cut", "insert", "bit"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if wound == "change" and data:
            data[at] = draw(st.integers(0, 255))
        elif wound == "cut":
            del data[at:]
        elif wound == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:  # a bit low in the message: the MTI, the bitmaps, the first lengths
            low = draw(st.integers(0, min(len(data), 24) - 1))
            data[low] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


def _one_line(error: FormatError) -> None:
    assert "\n" not in str(error), str(error)


def _refused_safely(error: FormatError) -> None:
    assert len(error.short) <= 25, error.short
    assert CARD.pan not in str(error) and CARD.pan not in error.short


@BUDGET
@given(data=st.data())
@pytest.mark.parametrize(("seeds", "decode"), [(REQUESTS, decode_request),
                                               (RESPONSES, decode_response)],
                         ids=["request", "response"])  # fmt: skip
def test_a_damaged_binary_message_is_decoded_or_refused_with_a_format_error(
    seeds: list[bytes], decode: Callable[[bytes, Encoding], object], data: st.DataObject
) -> None:
    payload = data.draw(damaged(seeds) | st.binary(max_size=300))
    try:
        decode(payload, Encoding.ISO8583)
    except FormatError as error:
        _refused_safely(error)


@BUDGET
@given(payload=damaged(REQUESTS + RESPONSES) | st.binary(max_size=200)
       | st.text(max_size=120).map(lambda text: ("{" + text).encode()))  # fmt: skip
def test_tpesim_decode_shows_or_names_the_fault_of_anything(payload: bytes) -> None:
    """`tpesim decode` reads any bytes: a table with a verdict, or a FormatError it prints in
    one line (exit 2, docs/cli.md)."""
    try:
        decoded = decode_message(payload)
    except FormatError as error:
        _one_line(error)
        return
    shown = render(decoded)
    assert decoded.verdict.startswith(("valid ", "the switch would answer 30"))
    assert CARD.pan not in shown  # the PAN is masked in what is shown


def test_the_seeds_themselves_decode() -> None:
    """The damage starts from messages the decoders accept (else the tests above prove little)."""
    assert [decode_request(r, Encoding.ISO8583).mti for r in REQUESTS] == [
        "0200", "0800", "0420", "0500"]  # fmt: skip
    assert [decode_response(r, Encoding.ISO8583).mti for r in RESPONSES] == [
        "0210", "0810", "0430", "0510"]  # fmt: skip


PANS = st.from_regex(r"[0-9]{13,19}", fullmatch=True)


@BUDGET
@given(block=st.binary(max_size=10) | st.binary(min_size=8, max_size=8), pan=PANS,
       sixteen=st.binary(min_size=15, max_size=17))  # fmt: skip
def test_any_pin_block_decodes_to_a_pin_or_is_refused(
    block: bytes, pan: str, sixteen: bytes
) -> None:
    """Whatever a PIN block decrypts to (a wrong key, a forged or cut block), each format
    gives 4 to 12 digits or PinBlockError, never another exception."""
    decoders: list[Callable[[], str]] = [
        lambda: decode_iso0(block, pan),
        lambda: decode_iso1(block),
        lambda: decode_iso3(block, pan),
        lambda: decipher_iso4(bytes(range(16)), sixteen, pan),
    ]
    for decode in decoders:
        try:
            pin = decode()
        except PinBlockError:
            continue
        assert pin.isdigit() and 4 <= len(pin) <= 12, pin
