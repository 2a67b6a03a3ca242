"""One-time codes for the simulated wallet app (BaridiMob style): HOTP (RFC 4226) and TOTP
(RFC 6238), HMAC-SHA-1, 6 digits. Pure; the time is given."""

from __future__ import annotations

import hmac
from hashlib import sha1

__all__ = ["DIGITS", "STEP_S", "hotp", "totp", "totp_matches"]

DIGITS = 6
STEP_S = 30
"""TOTP's time step: a code lives 30 seconds."""


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226: the ``digits``-digit code of ``counter`` under ``key`` (dynamic truncation)."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def totp(key: bytes, at_s: float, digits: int = DIGITS) -> str:
    """RFC 6238: the code of the time step holding ``at_s`` (seconds since the epoch)."""
    return hotp(key, int(at_s // STEP_S), digits)


def totp_matches(key: bytes, code: str, at_s: float, window: int = 1) -> bool:
    """Whether ``code`` is the code of the step at ``at_s`` or of one of the ``window`` steps
    before or after it (clocks drift; a code typed near a step's end arrives in the next)."""
    step = int(at_s // STEP_S)
    return any(
        hmac.compare_digest(hotp(key, step + delta, len(code)), code)
        for delta in range(-window, window + 1)
    )
