"""Masking of card numbers for logs, receipts and reports: first 6 and last 4 digits only."""

from __future__ import annotations

import logging
import re

__all__ = ["PanMaskingFilter", "mask_pan", "mask_pans_in_text", "redact_wire_text"]

# A run of 13 to 19 digits not glued to other digits, nor following a letter: anything that
# may be a PAN. Shorter runs are left alone: RRNs (DE37) and amounts (DE4) are 12 digits. The
# digits of a merchant id (DE42, "DZ0000000000101") follow its country code: not a PAN. A
# PAN may be followed by a letter: track 2's separator "D".
_PAN_LIKE = re.compile(r"(?<![\dA-Za-z])\d{13,19}(?!\d)")


# JSON wire fields that must never be logged: DE35 track 2, DE48 CVV2, DE52 PIN block, DE55 ICC.
_SECRET_FIELDS = re.compile(r'("(?:35|48|52|55)"\s*:\s*)"[^"]*"?')


def mask_pan(pan: str) -> str:
    """``6280581110007215`` → ``628058******7215``; short or odd input is masked entirely."""
    if len(pan) < 12:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def mask_pans_in_text(text: str) -> str:
    """Mask every PAN-like digit run inside free text (log lines, raw payload excerpts)."""
    return _PAN_LIKE.sub(lambda match: mask_pan(match.group(0)), text)


def redact_wire_text(text: str) -> str:
    """Make raw message text safe to log: PANs masked, PIN block / track 2 / ICC data removed."""
    return mask_pans_in_text(_SECRET_FIELDS.sub(_redacted, text))


def _redacted(match: re.Match[str]) -> str:
    """A secret field's name kept, its value replaced (a function: no template per match)."""
    return f'{match.group(1)}"<redacted>"'


class PanMaskingFilter(logging.Filter):
    """A logging filter that masks PAN-like digit runs in every record it sees.

    Defence in depth: call sites already mask; this catches what they forget.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pans_in_text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True
