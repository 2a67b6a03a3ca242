"""What a merchant may key in and how the card is read (pure): which transaction kinds go
together, the entry mode a faulty chip reader falls back to, and the corrupt-MAC fault, which
flips exactly the lowest bit of the MAC in JSON and in ISO 8583 binary."""

from __future__ import annotations

from cards.chip import Plastic
from terminal.builder import ENTRY_MODES
from terminal.records import TerminalError
from wire.protocol.codec import Encoding

__all__ = ["card_entry", "check_kind", "flip_mac_bit"]


def card_entry(entry: str, plastic: Plastic | None, *, chip_reader_fault: bool, tid: str) -> str:
    """How the card will actually be read: with a faulty chip reader a chip card falls back to
    its stripe (DE22 801, track 2, no cryptogram); TerminalError for an unknown entry or one
    that needs the plastic without it."""
    if entry not in ENTRY_MODES:
        raise TerminalError(f"unknown card entry {entry!r}")
    if entry == "chip" and chip_reader_fault:
        if plastic is None:
            raise TerminalError(f"{tid}: the chip reader is faulty and no stripe to read")
        entry = "fallback"
    if entry != "chip" and plastic is None:
        raise TerminalError(f"{entry} entry needs the card's plastic")
    return entry


def check_kind(amount: int, *, cash_back: int, inquiry: bool, refund: bool, preauth: bool) -> None:
    """TerminalError for a transaction that cannot be keyed in: cash-back other than with a
    purchase, a balance inquiry with an amount."""
    if cash_back and (refund or preauth or inquiry or cash_back < 0):
        raise TerminalError("cash-back goes with a purchase only, and is positive")
    if inquiry and (amount or refund or preauth):
        raise TerminalError("a balance inquiry has no amount")


def flip_mac_bit(payload: bytes, encoding: Encoding) -> bytes:
    """``payload`` with the lowest bit of its MAC flipped (fault injection): of DE64's last hex
    digit in JSON, of the last byte (the MAC's) in ISO 8583."""
    if encoding is Encoding.ISO8583:
        return payload[:-1] + bytes([payload[-1] ^ 1]) if payload else payload
    marker = b'"64":"'
    at = payload.find(marker)
    if at < 0:
        return payload
    last = at + len(marker) + 15
    digit = int(payload[last : last + 1], 16) ^ 1
    return payload[:last] + f"{digit:X}".encode() + payload[last + 1 :]
