"""The switch's own answer fields: the retrieval reference (DE37) and approval code (DE38)."""

from __future__ import annotations

import hashlib
from datetime import datetime

__all__ = ["approval_code", "retrieval_reference"]


def approval_code(key: tuple[str, int, str], *, stand_in: bool = False) -> str:
    """DE38: six characters derived from the request key (stable across replays); a stand-in
    approval's starts with ``S``, so it reads as the switch's, not the issuer's."""
    code = hashlib.sha256(repr(key).encode()).hexdigest()[:6].upper()
    return f"S{code[1:]}" if stand_in else code


def retrieval_reference(now: datetime, stan: int) -> str:
    """DE37: last digit of the year, day of year, hour, STAN (12 digits)."""
    return f"{now.year % 10}{now.timetuple().tm_yday:03d}{now.hour:02d}{stan:06d}"
