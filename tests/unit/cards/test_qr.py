"""The merchant-presented QR (an EMVCo MPM approximation of BaridiPay's): the CRC against the
standard's check value and the EMVCo specification's own example, static and dynamic codes round
trip, amounts in major units with the currency's decimals, damage and malformed tags refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.qr import MerchantQr, QrError, crc16, decode_qr, encode_qr

SHOP = MerchantQr(mid="DZ0000000000101", tid="DZAL0001", name="Superette El Baraka",
                  city="Alger Centre", mcc="5411", currency="012", country="DZ")  # fmt: skip

# The example payload of the EMVCo QR Code Specification for Payment Systems (MPM), v1.1, with
# its CRC A13A.
EMVCO_EXAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN"
    "5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.72530315655020162330304"
    "12340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"
)


def test_the_crc_is_crc16_ccitt_false() -> None:
    assert crc16(b"123456789") == "29B1"  # the algorithm's check value
    assert crc16(EMVCO_EXAMPLE[:-4].encode()) == EMVCO_EXAMPLE[-4:]


def test_static_and_dynamic_codes_round_trip() -> None:
    static = encode_qr(SHOP)
    assert static.startswith("000201010211") and static[-8:-4] == "6304"
    assert decode_qr(static) == SHOP and not decode_qr(static).dynamic
    sale = replace(SHOP, amount=150_000, reference="DZAL0001-000042")
    dynamic = encode_qr(sale)
    assert "01021226" in dynamic and "54071500.00" in dynamic
    assert decode_qr(dynamic) == sale


def test_tnd_amounts_keep_three_decimals() -> None:
    tunis = replace(SHOP, mid="TN0000000000301", tid="TNTU0001", currency="788", country="TN",
                    amount=12_345)  # fmt: skip
    payload = encode_qr(tunis)
    assert "540612.345" in payload
    assert decode_qr(payload).amount == 12_345


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda p: p[:-1] + ("0" if p[-1] != "0" else "1"), "CRC does not match",
                     id="crc"),
        pytest.param(lambda p: p.replace("Baraka", "Barakx"), "CRC does not match",
                     id="altered-name"),
        pytest.param(lambda p: p[:-8], "no CRC", id="no-crc"),
        pytest.param(lambda p: _resigned(p.replace("0018DZ", "0018XX")), "not a DZ.POSTE",
                     id="other-scheme"),
        pytest.param(lambda p: _resigned(p.replace("5303012", "5303999")), "unknown currency",
                     id="currency"),
        pytest.param(lambda p: _resigned(p[:-8] + "540210"), "a dynamic code has an amount",
                     id="static-with-amount"),
        pytest.param(lambda p: _resigned(p[:-8] + "9910ab"), "cut short", id="cut-short"),
    ],
)  # fmt: skip
def test_a_damaged_or_foreign_code_is_refused(damage: object, message: str) -> None:
    payload = encode_qr(SHOP)
    with pytest.raises(QrError, match=message):
        decode_qr(damage(payload))  # type: ignore[operator]


@given(
    amount=st.none() | st.integers(1, 10**12),
    reference=st.from_regex(r"[A-Z0-9-]{0,25}", fullmatch=True),
)
def test_any_code_round_trips(amount: int | None, reference: str) -> None:
    qr = replace(SHOP, amount=amount, reference=reference)
    assert decode_qr(encode_qr(qr)) == qr


def _resigned(body_and_crc: str) -> str:
    """``body_and_crc`` (whose last 8 characters are a CRC field) with a fresh, right CRC."""
    body = body_and_crc[:-8] + "6304" if body_and_crc[-8:-4] == "6304" else body_and_crc + "6304"
    return body + crc16(body.encode())
