"""ISO 8583 binary encoding of tpesim's messages, with pyiso8583 and our spec as data.

The binary form carries the same data elements as the JSON form (``wire.protocol.codec``),
field for field: an ASCII MTI, a binary primary bitmap (and a secondary one when a field above
64 is present), ASCII numeric and text fields, LLVAR/LLLVAR lengths as ASCII digits, binary
fields (PIN block, KSN, ICC data, MAC) as raw bytes. Where tpesim differs from ISO 8583:1987 the
spec says so in the field's ``desc`` (see docs/protocol.md, "ISO 8583 binary").

The MAC covers the exact bytes before it: it is the last field of the message, DE64 when there
is no secondary bitmap, DE128 when there is. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import iso8583

from wire.protocol.errors import FormatError

__all__ = ["MAC_BYTES", "SPEC", "from_iso8583", "mac_field", "offsets", "to_iso8583"]

MAC_BYTES = 8
"""DE64/DE128: the MAC's length in bytes."""


def _fixed(length: int, desc: str, encoding: str = "ascii") -> dict[str, Any]:
    return {"data_enc": encoding, "len_enc": "ascii", "len_type": 0, "max_len": length,
            "desc": desc}  # fmt: skip


def _variable(digits: int, most: int, desc: str, encoding: str = "ascii") -> dict[str, Any]:
    """A field whose length goes before it in ``digits`` ASCII digits (LLVAR: 2, LLLVAR: 3)."""
    return {"data_enc": encoding, "len_enc": "ascii", "len_type": digits, "max_len": most,
            "desc": desc}  # fmt: skip


SPEC: dict[str, dict[str, Any]] = {
    "h": _fixed(0, "Message header (none)"),
    "t": _fixed(4, "Message type indicator (MTI)"),
    "p": _fixed(8, "Primary bitmap", "b"),
    "1": _fixed(8, "Secondary bitmap", "b"),
    "2": _variable(2, 19, "Primary account number (PAN)"),
    "3": _fixed(6, "Processing code"),
    "4": _fixed(12, "Amount, transaction (minor units)"),
    "6": _fixed(12, "Amount, cardholder billing (minor units of DE51)"),
    "7": _fixed(10, "Transmission date and time (MMDDhhmmss, GMT)"),
    "10": _fixed(8, "Conversion rate, cardholder billing"),
    "11": _fixed(6, "Systems trace audit number (STAN)"),
    "12": _fixed(6, "Local transaction time (hhmmss)"),
    "13": _fixed(4, "Local transaction date (MMDD)"),
    "14": _fixed(4, "Expiration date (YYMM)"),
    "15": _fixed(4, "Settlement date (MMDD)"),
    "22": _fixed(3, "POS entry mode"),
    "23": _fixed(3, "Card sequence number (PSN)"),
    "35": _variable(2, 37, "Track 2 equivalent data"),
    "37": _fixed(12, "Retrieval reference number (RRN)"),
    "38": _fixed(6, "Authorization identification response"),
    "39": _fixed(2, "Response code"),
    "41": _fixed(8, "Card acceptor terminal identification (TID)"),
    "42": _fixed(15, "Card acceptor identification code (MID)"),
    "43": _fixed(40, "Card acceptor name/location (padded with spaces)"),
    "44": _variable(2, 25, "Additional response data"),
    "48": _variable(3, 999, "Additional data, private (tpesim: CVV2, keyed or e-commerce)"),
    "49": _fixed(3, "Currency code, transaction (ISO 4217 numeric)"),
    "51": _fixed(3, "Currency code, cardholder billing (ISO 4217 numeric)"),
    "52": _variable(2, 16, "PIN block (LLVAR in tpesim: 8 bytes TDES, 16 bytes AES)", "b"),
    "53": _variable(2, 48, "Security related control information (tpesim: DUKPT KSN)", "b"),
    "54": _variable(3, 120, "Additional amounts (balance, cash-back)"),
    "55": _variable(3, 255, "ICC (EMV) data, BER-TLV", "b"),
    "60": _variable(3, 999, "Reserved (private): tpesim's batch number, 6 digits"),
    "64": _fixed(MAC_BYTES, "Message authentication code (MAC)", "b"),
    "70": _fixed(3, "Network management information code"),
    "74": _fixed(10, "Credits, number (refunds in the batch)"),
    "76": _fixed(10, "Debits, number (sales in the batch)"),
    "86": _fixed(16, "Credits, amount (minor units)"),
    "88": _fixed(16, "Debits, amount (minor units)"),
    "90": _fixed(42, "Original data elements"),
    "124": _variable(4, 9999, "Private: batch journal or differences, one line each (LLLLVAR)"),
    "128": _fixed(MAC_BYTES, "Message authentication code (MAC), with a secondary bitmap", "b"),
}
"""tpesim's ISO 8583 spec for pyiso8583: every data element tpesim sends, and only those."""

_LINES = "124"
_LINE_BREAK = "\n"
_STRUCTURE = frozenset({"h", "t", "p", "1"})
_PADDED = frozenset({"43"})
"""Fixed-length text fields whose value may be shorter: padded with spaces."""


def mac_field(fields: Mapping[str, object]) -> str:
    """Where the MAC goes in a message with ``fields`` (DE numbers): DE128 when one of them is
    above 64 (a secondary bitmap), else DE64."""
    secondary = any(name.isdigit() and int(name) > 64 for name in fields if name != "128")
    return "128" if secondary else "64"


def _fit_lines(lines: list[str], room: int) -> str:
    """DE124's lines joined, as many as fit in ``room`` characters, then how many were left."""
    text = _LINE_BREAK.join(lines)
    kept = list(lines)
    while len(text) > room and kept:
        kept.pop()
        text = _LINE_BREAK.join([*kept, f"... {len(lines) - len(kept)} more lines"])
    return text


def to_iso8583(wire: Mapping[str, Any]) -> bytes:
    """The ISO 8583 bytes of a message in its JSON wire form (``"mti"`` and DE numbers as keys,
    values as the JSON form has them); the MAC, if any, moves to DE128 with a secondary bitmap."""
    document: dict[str, str] = {}
    for name, value in wire.items():
        if name == "mti":
            document["t"] = str(value)
        elif name == _LINES:
            lines = [str(line) for line in value]
            document[name] = _fit_lines(lines, SPEC[_LINES]["max_len"])
        elif name in _PADDED:
            document[name] = str(value).ljust(SPEC[name]["max_len"])
        elif name != "64":
            document[name] = str(value)
    if "64" in wire:
        document[mac_field(wire)] = str(wire["64"])
    data, _ = iso8583.encode(document, SPEC)
    return bytes(data)


def offsets(encoded: Mapping[str, Mapping[str, bytes]]) -> dict[str, int]:
    """Where each field starts (its length prefix, if any), in bytes from the start, given
    pyiso8583's encoded parts in message order."""
    where, at = {}, 0
    for name, parts in encoded.items():
        where[name] = at
        at += len(parts.get("len", b"")) + len(parts.get("data", b""))
    return where


def from_iso8583(data: bytes) -> tuple[dict[str, Any], dict[str, int]]:
    """The JSON wire form of ISO 8583 bytes, and each field's offset; :class:`FormatError`
    naming the field and the byte where decoding failed."""
    _check_bitmap(data)
    try:
        document, encoded = iso8583.decode(data, SPEC)
    except iso8583.DecodeError as error:
        partial = error.doc_dec
        stan = partial.get("11", "")
        raise FormatError(
            _reason(error.msg),
            field=_field_name(error.field),
            mti=partial.get("t"),
            stan=int(stan) if len(stan) == 6 and stan.isdigit() else None,
            offset=error.pos,
        ) from None
    where = offsets(encoded)
    if "64" in document and mac_field(document) == "128":
        raise FormatError("DE64 with a secondary bitmap: the MAC goes in DE128", field="64",
                          mti=document.get("t"), offset=where["64"])  # fmt: skip
    wire: dict[str, Any] = {"mti": document["t"]}
    for name, value in document.items():
        if name in _STRUCTURE:
            continue
        if name == _LINES:
            wire[name] = value.split(_LINE_BREAK) if value else []
        elif name == "128":
            wire["64"] = value
            where["64"] = where["128"]
        else:
            wire[name] = value
    where["mti"] = where["t"]
    return wire, where


def _check_bitmap(data: bytes) -> None:
    """FormatError naming the first field the bitmaps announce that the spec does not have
    (pyiso8583 would fail on it without saying where)."""
    bitmap = data[4:12]
    if len(bitmap) < 8:
        return  # too short: pyiso8583 says what is wrong
    if bitmap[0] & 0x80:
        bitmap += data[12:20]
    present = (
        number
        for number in range(2, len(bitmap) * 8 + 1)
        if bitmap[(number - 1) // 8] & (0x80 >> ((number - 1) % 8))
    )
    for number in present:
        if str(number) not in SPEC:
            raise FormatError("not in tpesim's ISO 8583 spec", field=str(number),
                              mti=data[:4].decode("ascii", "replace"), offset=4)  # fmt: skip


def _field_name(field: str) -> str:
    return {"t": "mti", "p": "bitmap", "1": "bitmap", "h": "header"}.get(field, field)


def _reason(message: str) -> str:
    """pyiso8583's message, with what it says about the data left out (no card data in logs)."""
    return message.split(":", 1)[0].strip() or "cannot be decoded"
