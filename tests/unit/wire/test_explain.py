"""Fields explained for trainers: names in three languages and decoded values."""

from __future__ import annotations

from wire.protocol import messages
from wire.protocol.explain import explain_field_names, explain_message, mti_meaning
from wire.protocol.messages import IsoMessage

SALE = {
    "mti": "0200", "2": "628058******7215", "3": "000000", "4": "000000150000",
    "7": "1123140509", "11": "000042", "14": "2712", "22": "051", "39": "51",
    "49": "012", "52": "<redacted>", "90": "0200000041112314050900000000000000000000000",
    "124": ["S000041:150000", "R000043:5000"], "999": "x",
}  # fmt: skip


def test_fields_come_in_number_order_with_the_mti_first() -> None:
    assert [f.de for f in explain_message(SALE)] == [
        "mti", "2", "3", "4", "7", "11", "14", "22", "39", "49", "52", "90", "124", "999"
    ]  # fmt: skip


def test_values_are_decoded_in_three_languages() -> None:
    fields = {field.de: field for field in explain_message(SALE)}
    assert fields["mti"].meaning is not None and "Financial request" in fields["mti"].meaning.en
    assert fields["3"].meaning is not None and fields["3"].meaning.fr == "Achat"
    assert fields["4"].meaning is not None and fields["4"].meaning.en == "1 500,00 DZD"
    assert fields["4"].meaning.ar == "1 500,00 دج"
    assert fields["7"].meaning is not None and fields["7"].meaning.en == "23/11 14:05:09 UTC"
    assert fields["14"].meaning is not None and fields["14"].meaning.fr == "fin 12/2027"
    assert fields["22"].meaning is not None and fields["22"].meaning.en.startswith("Chip; PIN")
    assert fields["39"].meaning is not None and fields["39"].meaning.ar == "رصيد غير كاف"
    assert fields["49"].meaning is not None and fields["49"].meaning.en.startswith("DZD")
    assert fields["52"].meaning is not None and "never" in fields["52"].meaning.en
    assert fields["90"].meaning is not None and "STAN 000041" in fields["90"].meaning.en
    assert fields["124"].value == "S000041:150000; R000043:5000"
    assert fields["999"].meaning is None and fields["999"].name.en == "DE999"


def test_a_tnd_amount_has_three_decimals() -> None:
    fields = {f.de: f for f in explain_message({"4": "000000012345", "49": "788"})}
    assert fields["4"].meaning is not None and fields["4"].meaning.en == "12,345 TND"


def test_odd_values_are_shown_but_not_decoded() -> None:
    fields = {f.de: f for f in explain_message({"7": "nonsense", "4": "12a", "14": "1"})}
    assert all(f.meaning is None for f in fields.values())
    assert fields["7"].value == "nonsense"


def test_every_field_of_the_wire_format_has_a_name_in_each_language() -> None:
    names = explain_field_names()
    models = [
        m for m in vars(messages).values() if isinstance(m, type) and issubclass(m, IsoMessage)
    ]
    aliases = {str(i.alias) for m in models for i in m.model_fields.values() if i.alias}
    assert len(models) > 10 and "90" in aliases and "124" in aliases
    assert aliases <= set(names)
    for name, about in names.values():
        assert all((name.en, name.fr, name.ar, about.en, about.fr, about.ar))
    assert mti_meaning("0430").fr.startswith("Accusé")
    assert mti_meaning("9999").en == "MTI 9999"
