"""HOTP and TOTP against the RFCs' own test vectors."""

from __future__ import annotations

import pytest

from cards.crypto.otp import hotp, totp, totp_matches

SECRET = b"12345678901234567890"  # RFC 4226 appendix D and RFC 6238 appendix B (SHA-1)


@pytest.mark.parametrize(
    ("counter", "code"),
    [(0, "755224"), (1, "287082"), (2, "359152"), (3, "969429"), (9, "520489")],
)
def test_hotp_rfc4226_vectors(counter: int, code: str) -> None:
    assert hotp(SECRET, counter) == code


@pytest.mark.parametrize(
    ("at_s", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
    ],
)
def test_totp_rfc6238_sha1_vectors(at_s: int, code: str) -> None:
    assert totp(SECRET, at_s, digits=8) == code


def test_a_code_holds_for_its_step_and_one_either_side() -> None:
    code = totp(SECRET, 1_000_000)
    assert totp_matches(SECRET, code, 1_000_000 + 30)
    assert totp_matches(SECRET, code, 1_000_000 - 30)
    assert not totp_matches(SECRET, code, 1_000_000 + 90)
    assert not totp_matches(SECRET, "000000" if code != "000000" else "111111", 1_000_000)
