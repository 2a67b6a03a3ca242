"""Two pure helpers of the terminal shell: what may be keyed in together (cash-back only with a
purchase and positive; an inquiry with no amount), and the corrupt-MAC fault, which flips
exactly the lowest bit of the MAC and nothing else, in JSON and in ISO 8583 binary."""

from __future__ import annotations

import json

import pytest

from terminal.keying import check_kind, flip_mac_bit
from terminal.records import TerminalError
from wire.protocol.codec import Encoding

KINDS: dict[str, object] = {"cash_back": 0, "inquiry": False, "refund": False, "preauth": False}


@pytest.mark.parametrize(
    ("amount", "changes", "refused"),
    [(5_000, {}, None), (5_000, {"cash_back": 1_000}, None),
     (5_000, {"cash_back": -1}, "cash-back"),
     (5_000, {"cash_back": 1, "refund": True}, "cash-back"),
     (5_000, {"cash_back": 1, "preauth": True}, "cash-back"),
     (0, {"cash_back": 1, "inquiry": True}, "cash-back"),
     (1, {"cash_back": 1, "inquiry": True}, "cash-back"),  # both wrong: cash-back said first
     (0, {"inquiry": True}, None), (1, {"inquiry": True}, "inquiry"),
     (0, {"inquiry": True, "refund": True}, "inquiry"),
     (0, {"inquiry": True, "preauth": True}, "inquiry"),
     (5_000, {"refund": True}, None), (5_000, {"preauth": True}, None)],
)  # fmt: skip
def test_what_can_be_keyed_in_together(
    amount: int, changes: dict[str, object], refused: str | None
) -> None:
    kinds = KINDS | changes
    if refused is None:
        check_kind(amount, **kinds)  # type: ignore[arg-type]
        return
    with pytest.raises(TerminalError, match=refused):
        check_kind(amount, **kinds)  # type: ignore[arg-type]


@pytest.mark.parametrize(("last", "flipped"), [("0", "1"), ("1", "0"), ("E", "F"), ("F", "E"),
                                               ("9", "8"), ("A", "B")])  # fmt: skip
def test_the_corrupt_mac_fault_flips_the_macs_lowest_bit_in_json(last: str, flipped: str) -> None:
    mac = "0123456789ABCDE" + last
    payload = json.dumps({"11": "000001", "64": mac, "70": "001"}, separators=(",", ":")).encode()
    changed = json.loads(flip_mac_bit(payload, Encoding.JSON))
    assert changed == {"11": "000001", "64": mac[:15] + flipped, "70": "001"}


def test_the_corrupt_mac_fault_leaves_a_message_without_a_mac_alone() -> None:
    payload = b'{"11":"000001","70":"001"}'
    assert flip_mac_bit(payload, Encoding.JSON) == payload
    assert flip_mac_bit(b"", Encoding.ISO8583) == b""


def test_the_corrupt_mac_fault_flips_the_last_bit_in_binary() -> None:
    payload = bytes(range(20))
    assert flip_mac_bit(payload, Encoding.ISO8583) == bytes(range(19)) + bytes([19 ^ 1])
