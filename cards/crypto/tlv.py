"""A small BER-TLV codec for EMV data (DE55): tags of 1-3 bytes, definite lengths.

``decode`` returns the top-level elements in order as (tag, value) pairs, tags as upper-case hex;
constructed values stay as bytes (decode them again to descend). ``encode`` is its inverse.
"""

from __future__ import annotations

__all__ = ["TlvError", "decode", "decode_dict", "encode"]


class TlvError(ValueError):
    """Malformed TLV; the message says at which byte offset."""


def _read_tag(data: bytes, pos: int) -> tuple[str, int]:
    start = pos
    if pos >= len(data):
        raise TlvError(f"tag expected at offset {pos}")
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                raise TlvError(f"tag starting at offset {start} is cut short")
            byte = data[pos]
            pos += 1
            if not byte & 0x80:
                break
            if pos - start >= 3:
                raise TlvError(f"tag at offset {start} is longer than 3 bytes")
    return data[start:pos].hex().upper(), pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError(f"length expected at offset {pos}")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 3:
        raise TlvError(f"unsupported length form 0x{first:02X} at offset {pos - 1}")
    if pos + count > len(data):
        raise TlvError(f"length at offset {pos - 1} is cut short")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def decode(data: bytes) -> list[tuple[str, bytes]]:
    """The top-level TLV elements of ``data``, in order."""
    elements: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(data):
        if data[pos] in (0x00, 0xFF):  # padding between elements
            pos += 1
            continue
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > len(data):
            raise TlvError(f"value of tag {tag} at offset {pos} needs {length} bytes")
        elements.append((tag, data[pos : pos + length]))
        pos += length
    return elements


def decode_dict(data: bytes) -> dict[str, bytes]:
    """Like :func:`decode` but as a dict; a repeated tag is an error."""
    result: dict[str, bytes] = {}
    for tag, value in decode(data):
        if tag in result:
            raise TlvError(f"tag {tag} appears twice")
        result[tag] = value
    return result


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    size = (length.bit_length() + 7) // 8
    if size > 3:
        raise TlvError("a TLV value of 16 MiB or more is not supported")
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def encode(elements: list[tuple[str, bytes]] | dict[str, bytes]) -> bytes:
    """Encode (tag hex, value) pairs in order."""
    items = elements.items() if isinstance(elements, dict) else elements
    out = bytearray()
    for tag, value in items:
        raw_tag = bytes.fromhex(tag)
        if _read_tag(raw_tag, 0) != (tag.upper(), len(raw_tag)):
            raise TlvError(f"{tag!r} is not a valid BER tag")
        out += raw_tag + _encode_length(len(value)) + value
    return bytes(out)
