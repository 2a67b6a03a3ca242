"""The card's chip (pure): an EMV application that answers GENERATE AC with an ARQC.

Our card profile: the AC covers the CDOL1 data below (amount, other amount, terminal country,
TVR, currency, date, type, unpredictable number, AIP, ATC, CVR) with the EMV common session key
(R = ATC ‖ 00…00); the ARPC is method 1. The chip holds its ICC master key (personalized from
the issuer's key; never seen by the terminal) and its application transaction counter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cards.crypto import emv

__all__ = [
    "AIP",
    "CDOL1_TAGS",
    "IAD",
    "Chip",
    "ChipError",
    "Plastic",
    "TerminalData",
    "cryptogram_data",
    "session_key_r",
]

AIP = bytes.fromhex("1980")
"""Application interchange profile: SDA, cardholder verification, terminal risk management."""
IAD = bytes.fromhex("06011203A00000")
"""Issuer application data: length 06, key index 01, cryptogram version 0x12, CVR 03A00000."""
CDOL1_TAGS = ("9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37", "82", "9F36")
"""The tags whose values the AC covers, in order; the CVR (IAD bytes 3..6) follows them."""


class ChipError(ValueError):
    """ICC data that lacks a tag the cryptogram needs, or a counter that has run out."""


@dataclass(frozen=True, slots=True)
class TerminalData:
    """What the terminal gives the card for GENERATE AC."""

    amount: int
    currency: str
    """ISO numeric, 3 digits (5F2A)."""
    country: str
    """ISO numeric, 3 digits (9F1A)."""
    date: str
    """YYMMDD (9A)."""
    unpredictable_number: bytes
    transaction_type: str = "00"
    tvr: bytes = bytes(5)


def cryptogram_data(tags: Mapping[str, bytes]) -> bytes:
    """The bytes the AC covers: the CDOL1 tag values in order, then the CVR from 9F10."""
    missing = [tag for tag in (*CDOL1_TAGS, "9F10") if tag not in tags]
    if missing:
        raise ChipError(f"ICC data lacks tag(s) {', '.join(missing)}")
    iad = tags["9F10"]
    if len(iad) < 7:
        raise ChipError("issuer application data (9F10) is too short to hold a CVR")
    return b"".join(tags[tag] for tag in CDOL1_TAGS) + iad[3:7]


def session_key_r(atc: bytes) -> bytes:
    """The session-key diversification value for ``atc``: ATC ‖ 00…00 (8 bytes)."""
    return atc + bytes(6)


@dataclass
class Chip:
    """One card's EMV application. ``atc`` is the last counter used (0 before the first AC)."""

    pan: str
    psn: int
    master_key: bytes = field(repr=False)
    atc: int = 0
    counter: Callable[[int], int] | None = field(default=None, repr=False, compare=False)
    """Where the counter lives when it outlives the process (tpesim.state): given the chip's
    last counter, stores and returns the next one. None: the chip counts on its own."""

    def __repr__(self) -> str:
        return f"<Chip {self.pan[:6]}…{self.pan[-4:]} psn={self.psn:02d} atc={self.atc}>"

    def generate_arqc(self, data: TerminalData) -> dict[str, bytes]:
        """GENERATE AC (ARQC): the ICC data for DE55, with the counter advanced by one."""
        if self.atc >= 0xFFFF:
            raise ChipError("the application transaction counter has run out")
        following = self.counter(self.atc) if self.counter else self.atc + 1
        if following > 0xFFFF:
            raise ChipError("the application transaction counter has run out")
        self.atc = following
        tags = {
            "9F02": bytes.fromhex(f"{data.amount:012d}"),  # n12, BCD
            "9F03": bytes(6),
            "9F1A": bytes.fromhex(f"0{data.country}"),
            "95": data.tvr,
            "5F2A": bytes.fromhex(f"0{data.currency}"),
            "9A": bytes.fromhex(data.date),
            "9C": bytes.fromhex(data.transaction_type),
            "9F37": data.unpredictable_number,
            "82": AIP,
            "9F36": self.atc.to_bytes(2, "big"),
            "9F10": IAD,
            "5F34": bytes((self.psn,)),
        }
        session_key = emv.common_session_key(self.master_key, session_key_r(tags["9F36"]))
        tags["9F26"] = emv.generate_ac(session_key, cryptogram_data(tags))
        tags["9F27"] = b"\x80"  # cryptogram information data: ARQC
        return tags


@dataclass(frozen=True, slots=True)
class Plastic:
    """The magnetic stripe's track 2 (PAN=YYMM, service code, PVKI, PVV, CVV) and the CVV2
    printed on the back (reprs show neither)."""

    track2: str = field(repr=False)
    cvv2: str = field(repr=False)
