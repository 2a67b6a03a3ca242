"""ISO 9564-1 PIN block edges: the PIN and PAN rules at their limits, each format's digit, fill
and padding checks, and the exact blocks for a given fill (ISO 9564-1:2017 9.3, 9.4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cards.crypto import (
    PinBlockError,
    decipher_iso4,
    decode_iso0,
    decode_iso1,
    decode_iso3,
    encipher_iso4,
    encode_iso0,
    encode_iso1,
    encode_iso3,
)
from cards.crypto.pinblock import iso4_pan_field, iso4_pin_field
from cards.crypto.primitives import aes_encrypt_block, xor

h = bytes.fromhex
PAN = "4012345678909"  # PAN field 0000 401234567890
PAN_FIELD = h("0000401234567890")
AES_KEY = h("00112233445566778899AABBCCDDEEFF")
FILL = "ABCDEFABCDEFAB"

ENCODERS: dict[str, Callable[[str], bytes]] = {
    "iso0": lambda pin: encode_iso0(pin, PAN),
    "iso1": lambda pin: encode_iso1(pin, FILL),
    "iso3": lambda pin: encode_iso3(pin, PAN, FILL),
    "iso4": lambda pin: iso4_pin_field(pin, bytes(8)),
}


@pytest.mark.parametrize("encoder", ENCODERS.values(), ids=ENCODERS.keys())
@pytest.mark.parametrize("pin", ["", "123", "1234567890123", "12a4", "١٢٣٤"])
def test_every_format_refuses_a_pin_that_is_not_4_to_12_ascii_digits(
    encoder: Callable[[str], bytes], pin: str
) -> None:
    """3 and 13 digits, a letter and non-ASCII digits are refused by every encoder."""
    with pytest.raises(PinBlockError, match=r"^a PIN is 4 to 12 digits$"):
        encoder(pin)


@pytest.mark.parametrize(
    ("pin", "block"), [("1234", "1412340123456789"), ("123456789012", "1C12345678901201")]
)
def test_iso1_block_for_a_given_fill(pin: str, block: str) -> None:
    """Format 1 with fill 0123456789ABCD: 1, the length nibble, the PIN, then the fill."""
    assert encode_iso1(pin, "0123456789ABCD") == h(block)
    assert decode_iso1(h(block)) == pin


def test_iso1_random_fill() -> None:
    """Without a fill, format 1 still starts 1 L PIN and decodes to the PIN."""
    block = encode_iso1("1234")
    assert len(block) == 8
    assert block[:3] == h("141234")
    assert decode_iso1(block) == "1234"


CODECS_WITH_PAN: dict[str, Callable[[str], object]] = {
    "encode_iso0": lambda pan: encode_iso0("1234", pan),
    "decode_iso0": lambda pan: decode_iso0(h("041274EDCBA9876F"), pan),
    "encode_iso3": lambda pan: encode_iso3("1234", pan, FILL),
    "decode_iso3": lambda pan: decode_iso3(h("341274B9F9B9D35D"), pan),
}


@pytest.mark.parametrize("codec", CODECS_WITH_PAN.values(), ids=CODECS_WITH_PAN.keys())
@pytest.mark.parametrize("pan", ["", "401234567890", "4012345678A09", "٤٠١٢٣٤٥٦٧٨٩٠٩"])
def test_formats_0_and_3_refuse_a_pan_that_is_not_13_ascii_digits(
    codec: Callable[[str], object], pan: str
) -> None:
    """12 digits, a hex letter inside the PAN field and non-ASCII digits are refused."""
    with pytest.raises(PinBlockError, match=r"^a PAN is at least 13 digits$"):
        codec(pan)


@pytest.mark.parametrize(
    ("block", "pin", "pan"),
    [("041274EDCBA9876F", "1234", PAN),
     ("0C1261032D8226A9", "123456789012", "5555555551234567")],
)  # fmt: skip
def test_iso0_decodes_the_published_blocks(block: str, pin: str, pan: str) -> None:
    """The format 0 vectors (psec; X9.24-1 A.4) decode back to their PINs."""
    assert decode_iso0(h(block), pan) == pin


@pytest.mark.parametrize(
    "field", ["041234FFFFFFFFFE", "041234AAAAAAAAAA", "0C123456789012FE", "0412340FFFFFFFFF"]
)
def test_iso0_refuses_padding_other_than_f(field: str) -> None:
    """Every nibble after the PIN must be F."""
    with pytest.raises(PinBlockError, match=r"^format 0 PIN block has bad padding$"):
        decode_iso0(xor(h(field), PAN_FIELD), PAN)


@pytest.mark.parametrize(
    ("decoder", "block", "digit"),
    [(lambda b: decode_iso0(b, PAN), h("341274B9F9B9D35D"), 0),
     (lambda b: decode_iso3(b, PAN), h("041274EDCBA9876F"), 3),
     (decode_iso1, h("041234FFFFFFFFFF"), 1),
     (decode_iso1, h("241234FFFFFFFFFF"), 1),
     (decode_iso1, h("1D1234567890123F"), 1),
     (decode_iso1, h("13123FFFFFFFFFFF"), 1),
     (decode_iso1, h("141A34FFFFFFFFFF"), 1)],
)  # fmt: skip
def test_decoders_refuse_a_wrong_format_digit_length_or_pin(
    decoder: Callable[[bytes], str], block: bytes, digit: int
) -> None:
    """Another format's block, a length of 13 or 3, or a non-digit PIN is refused."""
    with pytest.raises(PinBlockError, match=f"^not a valid ISO format {digit} PIN block$"):
        decoder(block)


def test_iso1_decodes_the_longest_pin() -> None:
    """Length nibble C: a 12-digit PIN with two fill nibbles."""
    assert decode_iso1(h("1C123456789012FF")) == "123456789012"


def test_iso3_block_for_a_given_fill() -> None:
    """Format 3: 3 L PIN + fill from A-F, XOR the PAN field."""
    block = encode_iso3("1234", PAN, FILL)
    assert block == xor(h("341234ABCDEFABCD"), PAN_FIELD) == h("341274B9F9B9D35D")
    assert decode_iso3(block, PAN) == "1234"


@pytest.mark.parametrize("fill", ["0BCDEFABCDEFAB", "abcdefabcdefab", "ABCDEFABCDEFA9"])
def test_iso3_refuses_fill_outside_a_to_f(fill: str) -> None:
    """Fill digits are upper-case A to F, all of them."""
    with pytest.raises(PinBlockError, match=r"^format 3 fill digits are A to F$"):
        encode_iso3("1234", PAN, fill)


def test_iso3_random_fill_is_a_to_f() -> None:
    """Without a fill, every fill nibble of the clear field is A-F."""
    field = xor(encode_iso3("1234", PAN), PAN_FIELD).hex().upper()
    assert field[:6] == "341234"
    assert set(field[6:]) <= set("ABCDEF")


def test_iso4_pin_field_limits() -> None:
    """A 12-digit PIN leaves two A nibbles; the random half is 8 bytes, given or drawn."""
    assert iso4_pin_field("123456789012", bytes(8)) == h("4C123456789012AA" + "00" * 8)
    drawn = iso4_pin_field("1234")
    assert len(drawn) == 16
    assert drawn[:8] == h("441234AAAAAAAAAA")
    for size in (7, 9):
        with pytest.raises(PinBlockError, match=r"^format 4 random fill is 8 bytes$"):
            iso4_pin_field("1234", bytes(size))


@pytest.mark.parametrize(
    ("pan", "field"),
    [("1", "0000000000001"), ("123456789012", "0123456789012"),
     ("1234567890123", "11234567890123"), ("1234567890123456789", "71234567890123456789")],
)  # fmt: skip
def test_iso4_pan_field_from_1_to_19_digits(pan: str, field: str) -> None:
    """M = length - 12 (0 for PANs of 12 digits or fewer, left-padded with zeros to 12)."""
    assert iso4_pan_field(pan) == h(field.ljust(32, "0"))


@pytest.mark.parametrize("pan", ["", "12345678901234567890", "41111111111A", "٤١١١"])
def test_iso4_pan_field_refuses_other_pans(pan: str) -> None:
    """Empty, 20 digits, a letter or non-ASCII digits."""
    with pytest.raises(PinBlockError, match=r"^a PAN is 1 to 19 digits$"):
        iso4_pan_field(pan)


@pytest.mark.parametrize("size", [0, 15, 17, 32])
def test_decipher_iso4_refuses_a_block_that_is_not_16_bytes(size: int) -> None:
    """Only one AES block is a format 4 PIN block."""
    with pytest.raises(PinBlockError, match=r"^a format 4 PIN block is 16 bytes$"):
        decipher_iso4(AES_KEY, bytes(size), PAN)


def _iso4_block(plain_pin_field: bytes, pan: str) -> bytes:
    """E(K, E(K, PIN field) XOR PAN field) for any PIN field, valid or not."""
    intermediate = aes_encrypt_block(AES_KEY, plain_pin_field)
    return aes_encrypt_block(AES_KEY, xor(intermediate, iso4_pan_field(pan)))


def test_decipher_iso4_checks_the_a_fill_and_the_format_digit() -> None:
    """The nibbles after the PIN must be A; the first nibble must be 4."""
    assert decipher_iso4(AES_KEY, _iso4_block(h("441234AAAAAAAAAA") + bytes(8), PAN), PAN) == "1234"
    with pytest.raises(PinBlockError, match=r"^format 4 PIN block has bad fill$"):
        decipher_iso4(AES_KEY, _iso4_block(h("441234AAAAAAAAAB") + bytes(8), PAN), PAN)
    with pytest.raises(PinBlockError, match=r"^format 4 PIN block has bad fill$"):
        decipher_iso4(AES_KEY, _iso4_block(h("441234FFFFFFFFFF") + bytes(8), PAN), PAN)
    with pytest.raises(PinBlockError, match=r"^not a valid ISO format 4 PIN block$"):
        decipher_iso4(AES_KEY, _iso4_block(h("341234AAAAAAAAAA") + bytes(8), PAN), PAN)


def test_iso4_round_trip_with_the_longest_pin_and_shortest_pan() -> None:
    """A 12-digit PIN under a 1-digit PAN enciphers and deciphers back."""
    block = encipher_iso4(AES_KEY, "123456789012", "7", bytes(8))
    assert decipher_iso4(AES_KEY, block, "7") == "123456789012"


@pytest.mark.parametrize("fill", ["", "AB", "012345678", "01234567G9"])
def test_a_fill_too_short_or_not_hex_is_refused(fill: str) -> None:
    """A 4-digit PIN takes 10 fill digits: fewer, or a non-hex one, is an error, not a block
    of another size."""
    with pytest.raises(PinBlockError, match=r"^a 4-digit PIN needs 10 hex digits of fill$"):
        encode_iso1("1234", fill)
    assert encode_iso1("1234", "0123456789ABCDEF") == bytes.fromhex(
        "141234012345678 9".replace(" ", "")
    )


@pytest.mark.parametrize("size", [0, 7, 9, 16])
def test_a_clear_pin_block_is_8_bytes(size: int) -> None:
    """A cut or padded block is refused by name, not by a failing XOR."""
    message = f"^a PIN block is 8 bytes, not {size}$"
    pan = "6280581234567890"
    decoders: list[Callable[[], str]] = [lambda: decode_iso0(bytes(size), pan),
                                         lambda: decode_iso1(bytes(size)),
                                         lambda: decode_iso3(bytes(size), pan)]  # fmt: skip
    for decode in decoders:
        with pytest.raises(PinBlockError, match=message):
            decode()
