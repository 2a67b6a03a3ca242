"""BER-TLV edges: padding, the long length forms at their limits, 3-byte tags, and each kind of
malformed input with the offset its message names (EMV Book 3 Annex B)."""

from __future__ import annotations

import re

import pytest

from cards.crypto import tlv

h = bytes.fromhex


def test_padding_bytes_between_elements_are_skipped_one_at_a_time() -> None:
    """00 and FF between elements are padding; a single one before a tag skips that byte only."""
    data = h("00 5A01AB FF 9F270180 0000 FFFF")
    assert tlv.decode(data) == [("5A", h("AB")), ("9F27", h("80"))]
    assert tlv.decode(h("00FF")) == []


def test_other_low_bytes_are_tags_not_padding() -> None:
    """01 and FE are tags like any other, not padding."""
    assert tlv.decode(h("0101AB")) == [("01", h("AB"))]
    assert tlv.decode(h("FE01AB")) == [("FE", h("AB"))]


@pytest.mark.parametrize(
    ("header", "length"),
    [("00", 0), ("7F", 127), ("8100", 0), ("8180", 128), ("81FF", 255), ("820100", 256),
     ("83000001", 1), ("83010000", 65536)],
)  # fmt: skip
def test_decode_short_and_long_length_forms(header: str, length: int) -> None:
    """Short form up to 7F; long forms 81, 82 and 83 take the next 1, 2 or 3 bytes, big-endian,
    and the element that follows is read from the right offset."""
    value = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    data = h("5A" + header) + value + h("9F0201AB")
    assert tlv.decode(data) == [("5A", value), ("9F02", h("AB"))]


def test_long_form_length_of_zero_may_end_the_data() -> None:
    """A long-form length whose last byte is the last byte of the data is complete."""
    assert tlv.decode(h("5A8100")) == [("5A", b"")]
    assert tlv.decode(h("5A01AB9F02820000")) == [("5A", h("AB")), ("9F02", b"")]


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, "00"), (127, "7F"), (128, "8180"), (255, "81FF"), (256, "820100"), (65535, "82FFFF"),
     (65536, "83010000"), ((1 << 24) - 1, "83FFFFFF")],
)  # fmt: skip
def test_encode_uses_the_shortest_length_form(length: int, header: str) -> None:
    """Short form below 128; then 81, 82 or 83 with the fewest length bytes; it decodes back."""
    value = b"\x5a" * length
    encoded = tlv.encode([("5A", value)])
    assert encoded == h("5A" + header) + value
    assert tlv.decode(encoded) == [("5A", value)]


def test_encode_refuses_a_value_of_16_mib() -> None:
    """A value of 2**24 bytes needs four length bytes, which this codec does not write."""
    with pytest.raises(tlv.TlvError, match="a TLV value of 16 MiB or more is not supported"):
        tlv.encode([("5A", bytes(1 << 24))])


def test_three_byte_tags_are_the_longest() -> None:
    """DF8101 is a 3-byte tag; a second continuation byte (DF8181…) would make a fourth."""
    assert tlv.decode(h("DF810102ABCD")) == [("DF8101", h("ABCD"))]
    with pytest.raises(tlv.TlvError, match="tag at offset 3 is longer than 3 bytes"):
        tlv.decode(h("5A01AB DF81810101AB"))


@pytest.mark.parametrize(
    ("data", "message"),
    [("9F", "tag starting at offset 0 is cut short"),
     ("5A01AB9F", "tag starting at offset 3 is cut short"),
     ("5A01AB9F81", "tag starting at offset 3 is cut short"),
     ("5A", "length expected at offset 1"),
     ("5A01AB9F02", "length expected at offset 5"),
     ("5A80", "unsupported length form 0x80 at offset 1"),
     ("5A8400000001AB", "unsupported length form 0x84 at offset 1"),
     ("5A8400", "unsupported length form 0x84 at offset 1"),
     ("5A8201", "length at offset 1 is cut short"),
     ("5A01AB9F02830000", "length at offset 5 is cut short"),
     ("5A02AB", "value of tag 5A at offset 2 needs 2 bytes"),
     ("5A8180" + "AB" * 127, "value of tag 5A at offset 3 needs 128 bytes")],
)  # fmt: skip
def test_malformed_input_names_the_offset(data: str, message: str) -> None:
    """Each malformed input is a TlvError saying what is wrong and where."""
    with pytest.raises(tlv.TlvError, match=f"^{re.escape(message)}$"):
        tlv.decode(h(data))


def test_decode_dict_refuses_a_repeated_tag() -> None:
    """The same tag twice is an error for the dict view, not a silent overwrite."""
    data = h("5A01AB 9F0201CD 5A01EF")
    assert tlv.decode(data) == [("5A", h("AB")), ("9F02", h("CD")), ("5A", h("EF"))]
    with pytest.raises(tlv.TlvError, match=r"^tag 5A appears twice$"):
        tlv.decode_dict(data)


def test_encode_accepts_a_lower_case_tag_and_refuses_a_non_tag() -> None:
    """A tag is hex of exactly one BER tag: 5A01 is a tag and a stray byte, 9F is cut short,
    and an empty string is no tag at all."""
    assert tlv.encode([("9f26", h("01"))]) == h("9F260101")
    with pytest.raises(tlv.TlvError, match=r"^'5A01' is not a valid BER tag$"):
        tlv.encode([("5A01", b"")])
    with pytest.raises(tlv.TlvError, match=r"^tag starting at offset 0 is cut short$"):
        tlv.encode([("9F", b"")])
    with pytest.raises(tlv.TlvError, match=r"^tag expected at offset 0$"):
        tlv.encode([("", b"")])
