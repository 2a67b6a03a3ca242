"""Every field of a message explained, in English, French and Arabic, for trainers.

``explain_message`` takes a message as it is on the wire (or in a trace event: PAN masked,
secrets redacted) and gives, field by field, the field's name, what it is for, and what its
value means (an amount with its currency, a processing code's transaction type, a response
code's decision...). Names and explanations are data (``data/fields.yaml``); this module only
decodes values. Pure: no I/O beyond reading the data file once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cards.currency import currency_by_numeric, format_amount
from wire.protocol.amounts import AVAILABLE_BALANCE, CASH_BACK, LEDGER_BALANCE, parse_amounts
from wire.protocol.billing import parse_conversion_rate
from wire.protocol.codes import describe

__all__ = ["ExplainedField", "Text", "explain_field_names", "explain_message", "mti_meaning"]

REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class Text:
    """One phrase in the three languages of the region's terminals."""

    en: str
    fr: str
    ar: str

    @classmethod
    def same(cls, text: str) -> Text:
        """A value that reads the same in every language (a number, a date)."""
        return cls(text, text, text)


@dataclass(frozen=True, slots=True)
class ExplainedField:
    """One field: its number (``"mti"`` or the DE number), its value as on the wire, its
    name, what it is for, and what this value means (None: the value speaks for itself)."""

    de: str
    value: str
    name: Text
    about: Text
    meaning: Text | None


@dataclass(frozen=True, slots=True)
class _Tables:
    fields: dict[str, tuple[Text, Text]]
    mti: dict[str, Text]
    processing: dict[str, Text]
    entry: dict[str, Text]
    network: dict[str, Text]


def _text(raw: Mapping[str, str]) -> Text:
    return Text(en=raw["en"], fr=raw["fr"], ar=raw["ar"])


@cache
def _tables() -> _Tables:
    source = resources.files("wire.protocol.data").joinpath("fields.yaml")
    raw: dict[str, Any] = yaml.safe_load(source.read_text("utf-8"))

    def table(name: str) -> dict[str, Text]:
        return {code: _text(info) for code, info in raw[name].items()}

    fields = {de: (_text(info["name"]), _text(info["about"])) for de, info in raw["fields"].items()}
    return _Tables(fields, table("mti"), table("processing"), table("entry"), table("network"))


def mti_meaning(mti: str) -> Text:
    """What message type ``mti`` is (``0200``: a financial request...)."""
    return _tables().mti.get(mti) or Text.same(f"MTI {mti}")


def explain_field_names() -> dict[str, tuple[Text, Text]]:
    """Every field tpesim knows: DE number → (name, what it is for)."""
    return dict(_tables().fields)


def _amount(value: str, message: Mapping[str, Any]) -> Text | None:
    cur = currency_by_numeric(str(message.get("49", "")))
    if not value.isdigit():
        return None
    if cur is None:
        return Text.same(f"{int(value)} minor units")
    shown = format_amount(int(value), cur, symbol=cur.code)
    return Text(shown, shown, format_amount(int(value), cur, symbol=cur.symbol_ar))


def _billed(value: str, message: Mapping[str, Any]) -> Text | None:
    """DE6: an amount in the currency of DE51."""
    return _amount(value, {"49": message.get("51", "")})


def _conversion_rate(value: str) -> Text | None:
    if not (len(value) == 8 and value.isdigit() and int(value[0]) <= 7):
        return None
    rate = f"{parse_conversion_rate(value)}"
    return Text(f"rate {rate}", f"taux {rate.replace('.', ',')}", f"سعر {rate}")


def _processing(value: str) -> Text | None:
    return _tables().processing.get(value[:2])


def _timestamp(value: str) -> Text | None:
    if len(value) != 10 or not value.isdigit():
        return None
    return Text.same(f"{value[2:4]}/{value[0:2]} {value[4:6]}:{value[6:8]}:{value[8:10]} UTC")


def _local_time(value: str) -> Text | None:
    if len(value) != 6 or not value.isdigit():
        return None
    return Text.same(f"{value[0:2]}:{value[2:4]}:{value[4:6]}")


def _day_month(value: str) -> Text | None:
    if len(value) != 4 or not value.isdigit():
        return None
    return Text.same(f"{value[2:4]}/{value[0:2]}")


def _expiry(value: str) -> Text | None:
    if len(value) != 4 or not value.isdigit():
        return None
    shown = f"{value[2:4]}/20{value[0:2]}"
    return Text(f"end of {shown}", f"fin {shown}", f"نهاية {shown}")


def _entry_mode(value: str) -> Text | None:
    read = _tables().entry.get(value[:2])
    if read is None or len(value) != 3:
        return read
    if value[2] == "1":
        return Text(f"{read.en}; PIN can be entered", f"{read.fr} ; saisie du PIN possible",
                    f"{read.ar}؛ يمكن إدخال الرمز السري")  # fmt: skip
    return Text(f"{read.en}; no PIN pad", f"{read.fr} ; pas de clavier PIN",
                f"{read.ar}؛ دون لوحة الرمز السري")  # fmt: skip


def _response(value: str) -> Text:
    info = describe(value)
    return Text(info.en, info.fr, info.ar)


def _currency(value: str) -> Text | None:
    cur = currency_by_numeric(value)
    return None if cur is None else Text(f"{cur.code} ({cur.name})", f"{cur.code} ({cur.name})",
                                         f"{cur.code} ({cur.symbol_ar})")  # fmt: skip


def _original(value: str) -> Text | None:
    if len(value) < 20:
        return None
    mti, stan, when = value[0:4], value[4:10], value[10:20]
    return Text(f"{mti_meaning(mti).en}, STAN {stan}, sent {when}",
                f"{mti_meaning(mti).fr}, STAN {stan}, envoyé {when}",
                f"{mti_meaning(mti).ar}، رقم {stan}، أرسلت {when}")  # fmt: skip


def _additional(value: str) -> Text | None:
    try:
        blocks = parse_amounts(value)
    except ValueError:
        return None
    kinds = {LEDGER_BALANCE: ("balance", "solde", "الرصيد"),
             AVAILABLE_BALANCE: ("available", "disponible", "المتاح"),
             CASH_BACK: ("cash-back", "retrait", "سحب نقدي")}  # fmt: skip
    parts: list[tuple[str, str, str]] = []
    for block in blocks:
        cur = currency_by_numeric(block.currency)
        shown = format_amount(block.amount, cur, symbol=cur.code) if cur else str(block.amount)
        en, fr, ar = kinds.get(block.amount_type, (block.amount_type,) * 3)
        parts.append((f"{en} {shown}", f"{fr} {shown}", f"{ar} {shown}"))
    if not parts:
        return None
    return Text(*("; ".join(p[i] for p in parts) for i in range(3)))


def _hidden(value: str) -> Text | None:
    if value != REDACTED:
        return None
    return Text("hidden: never leaves the security module", "masqué : ne quitte jamais le module "
                "de sécurité", "مخفي: لا يغادر وحدة الأمان أبدا")  # fmt: skip


_DECODERS: dict[str, Callable[[str], Text | None]] = {
    "mti": mti_meaning,
    "3": _processing,
    "7": _timestamp,
    "10": _conversion_rate,
    "12": _local_time,
    "13": _day_month,
    "14": _expiry,
    "15": _day_month,
    "22": _entry_mode,
    "35": _hidden,
    "39": _response,
    "48": _hidden,
    "49": _currency,
    "51": _currency,
    "52": _hidden,
    "54": _additional,
    "55": _hidden,
    "70": lambda code: _tables().network.get(code),  # noqa: PLW0108 (tables load lazily)
    "90": _original,
}


def _order(de: str) -> tuple[int, str]:
    return (-1, de) if de == "mti" else (int(de), de) if de.isdigit() else (10_000, de)


def explain_message(message: Mapping[str, Any]) -> list[ExplainedField]:
    """Each field of ``message`` (wire form: ``{"mti": "0200", "4": "000000150000", ...}``),
    in field-number order, explained. Unknown fields are kept, named by their number."""
    known = _tables().fields
    explained = []
    for de in sorted(message, key=_order):
        raw = message[de]
        value = "; ".join(map(str, raw)) if isinstance(raw, list) else str(raw)
        name, about = known.get(de) or (Text.same(f"DE{de}"), Text.same(""))
        if de in ("4", "86", "88"):
            meaning = _amount(value, message)
        elif de == "6":
            meaning = _billed(value, message)
        else:
            decoder = _DECODERS.get(de)
            meaning = decoder(value) if decoder is not None else None
        explained.append(ExplainedField(de, value, name, about, meaning))
    return explained
