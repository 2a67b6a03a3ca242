"""EMV key derivation and ARPC edges: the lengths each input must have (EMV Book 2 A1.3, A1.4,
8.2), each refused on its own with its message."""

from __future__ import annotations

import re

import pytest

from cards.crypto import emv

h = bytes.fromhex
IMK = h("0123456789ABCDEFFEDCBA9876543210")
ARQC = h("4B46013359B7A58B")
ARQC_AND_ARC = re.escape("ARQC is 8 bytes and the ARC 2 bytes")
ARQC_AND_CSU = re.escape("ARQC is 8 bytes and the card status update 4 bytes")


@pytest.mark.parametrize("psn", ["", "1", "123", "0A", " 1"])
def test_icc_master_key_refuses_a_psn_that_is_not_2_digits(psn: str) -> None:
    """One digit, three digits, a letter or a space."""
    with pytest.raises(ValueError, match=r"^a PAN sequence number here is 2 digits$"):
        emv.icc_master_key(IMK, "9901234567890123", psn)


@pytest.mark.parametrize("size", [0, 7, 9, 16])
def test_session_key_diversification_value_is_8_bytes(size: int) -> None:
    """R is ATC ‖ 00…: exactly 8 bytes."""
    with pytest.raises(ValueError, match=r"^the session key diversification value is 8 bytes$"):
        emv.common_session_key(IMK, bytes(size))


@pytest.mark.parametrize(("arqc", "arc"), [(ARQC[:7], b"00"), (ARQC, b"0"), (ARQC, b"000")])
def test_arpc_method_1_lengths(arqc: bytes, arc: bytes) -> None:
    """A 7-byte ARQC, or a 1- or 3-byte ARC, each on its own."""
    with pytest.raises(ValueError, match=f"^{ARQC_AND_ARC}$"):
        emv.arpc_method_1(IMK, arqc, arc)


@pytest.mark.parametrize(("arqc", "csu"), [(ARQC + b"\x00", bytes(4)), (ARQC, bytes(3))])
def test_arpc_method_2_lengths(arqc: bytes, csu: bytes) -> None:
    """A 9-byte ARQC, or a 3-byte CSU, each on its own."""
    with pytest.raises(ValueError, match=f"^{ARQC_AND_CSU}$"):
        emv.arpc_method_2(IMK, arqc, csu)
