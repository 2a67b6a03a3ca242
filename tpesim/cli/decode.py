"""``tpesim decode``: a message as hex, a file or standard input, JSON or ISO 8583 binary, printed
field by field with what each means (wire.protocol.explain), the PAN masked and secrets
hidden; then whether the switch would accept it, or which field it would refuse (30)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cards.currency import currency_by_numeric, format_amount
from cards.masking import redact_wire_text
from cards.qr import QrError, decode_qr
from tpesim.cli.support import CliError
from wire.protocol.codec import Encoding, FormatError, decode_request, decode_response
from wire.protocol.explain import ExplainedField, explain_message
from wire.protocol.iso8583 import from_iso8583

__all__ = ["Decoded", "add_decode_command", "decode_command", "decode_message"]

_HEX = re.compile(r"^[0-9A-Fa-f\s]+$")
QR_START = "000201"
"""How an EMVCo QR payload starts (tag 00, length 02, format 01)."""
_LANGUAGES = ("en", "fr", "ar")


@dataclass(frozen=True)
class Decoded:
    """A message read for display: its encoding and size, each field explained (PAN masked,
    secrets hidden), each field's byte offset (binary only), and what the switch would say."""

    encoding: Encoding
    size: int
    fields: list[ExplainedField]
    offsets: dict[str, int]
    verdict: str
    """``valid 0200`` (as a request) / ``valid 0210`` (a response), or the format error."""


def _read_input(source: str) -> bytes:
    """The message named on the command line: ``-`` (standard input), a file, or hex."""
    if source == "-":
        raw = sys.stdin.buffer.read()
    elif _is_file(source):
        raw = Path(source).read_bytes()
    elif "/" in source or source.startswith("."):
        raise FileNotFoundError(f"no file {source} (give hex digits, a file, or - for stdin)")
    else:
        raw = source.encode()
    text = raw.decode("ascii", "replace").strip()
    if text and not text.startswith("{") and _HEX.match(text):
        digits = "".join(text.split())
        if len(digits) % 2:
            raise ValueError("an odd number of hex digits")
        return bytes.fromhex(digits)
    return raw.strip() if raw.lstrip().startswith(b"{") else raw


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except OSError:  # a long run of hex digits is no file name
        return False


def _verdict(data: bytes, encoding: Encoding, mti: str) -> str:
    response = len(mti) == 4 and mti[2] in "13"
    try:
        (decode_response if response else decode_request)(data, encoding)
    except FormatError as error:
        return f"the switch would answer 30: {error}"
    return f"valid {mti}"


def decode_message(data: bytes) -> Decoded:
    """Read ``data`` (JSON when it starts with ``{``, else ISO 8583 binary) for display;
    FormatError naming the field (and byte) when its structure cannot be read at all."""
    offsets: dict[str, int] = {}
    if data.lstrip().startswith(b"{"):
        encoding = Encoding.JSON
        try:
            wire: Any = json.loads(data)
        except ValueError as error:
            raise FormatError(f"not valid JSON ({error.args[0].split(':')[0]})") from None
        if not isinstance(wire, dict):
            raise FormatError("not a JSON object")
    else:
        encoding = Encoding.ISO8583
        wire, offsets = from_iso8583(data)
    shown = json.loads(redact_wire_text(json.dumps(wire)))
    mti = str(wire.get("mti", ""))
    verdict = _verdict(data, encoding, mti)
    return Decoded(encoding, len(data), explain_message(shown), offsets, verdict)


def render(decoded: Decoded, language: str = "en") -> str:
    """The fields as a table: DE, value, name and meaning, in ``language``."""
    kind = "ISO 8583 binary" if decoded.encoding is Encoding.ISO8583 else "JSON"
    lines = [f"{kind}, {decoded.size} bytes"]
    for field in decoded.fields:
        at = decoded.offsets.get(field.de)
        where = f"@{at:<4}" if at is not None else ""
        label = "MTI" if field.de == "mti" else f"DE{field.de}"
        name = getattr(field.name, language)
        meaning = getattr(field.meaning, language) if field.meaning else ""
        value = field.value if len(field.value) <= 48 else field.value[:45] + "..."
        lines.append(
            f"  {label:<6}{where}  {value:<48}  {name}" + (f": {meaning}" if meaning else "")
        )
    lines.append(decoded.verdict)
    return "\n".join(lines)


def add_decode_command(sub: Any) -> None:
    """Add ``tpesim decode`` to the CLI's subcommands ``sub``."""
    decode = sub.add_parser(
        "decode",
        help="explain a message field by field (JSON or ISO 8583 binary; PAN masked)",
        description="Reads a message given as hex digits, a file (raw bytes) or - (standard "
        "input), in JSON or ISO 8583 binary, and prints every field with what it means.",
    )
    decode.add_argument("message", help="hex digits, a file name, - for standard input, or a "
                        "QR payload (000201...)")  # fmt: skip
    decode.add_argument("--lang", choices=_LANGUAGES, default="en",
                        help="language of the explanations (default en)")  # fmt: skip
    decode.add_argument("--json", action="store_true", help="print one JSON object")


def render_qr(payload: str) -> str:
    """A merchant QR code (cards.qr) explained; QrError when it cannot be read."""
    code = decode_qr(payload)
    cur = currency_by_numeric(code.currency)
    amount = "none: the payer types it"
    if code.amount is not None:
        amount = format_amount(code.amount, cur, symbol=cur.code) if cur else str(code.amount)
    lines = [
        f"BaridiPay-style QR code (an EMVCo merchant-presented approximation), "
        f"{'dynamic' if code.dynamic else 'static'}, {len(payload)} characters",
        f"  merchant   {code.name}, {code.city} ({code.country}), MCC {code.mcc}",
        f"  paid to    MID {code.mid}, terminal {code.tid}",
        f"  amount     {amount}",
        f"  currency   {cur.code if cur else code.currency} ({code.currency})",
    ]
    if code.reference:
        lines.append(f"  reference  {code.reference}")
    lines.append(f"  CRC        {payload[-4:]} (CRC-16/CCITT-FALSE): it matches")
    return "\n".join(lines)


def decode_command(args: argparse.Namespace) -> int:
    """Run ``tpesim decode``; 0 when the switch would accept the message, 1 when it would
    refuse it, 2 when it cannot be read. A QR payload (``000201…``) is explained too."""
    if args.message.startswith(QR_START):
        try:
            print(render_qr(args.message))
        except QrError as error:
            raise CliError(f"cannot read the QR code: {error}") from None
        return 0
    try:
        decoded = decode_message(_read_input(args.message))
    except (FormatError, ValueError) as error:
        raise CliError(f"cannot read the message: {error}") from None
    if args.json:
        print(json.dumps({
            "encoding": decoded.encoding.value, "bytes": decoded.size, "verdict": decoded.verdict,
            "fields": [asdict(field) | {"offset": decoded.offsets.get(field.de)}
                       for field in decoded.fields],
        }, ensure_ascii=False))  # fmt: skip
    else:
        print(render(decoded, args.lang))
    return 0 if decoded.verdict.startswith("valid") else 1
