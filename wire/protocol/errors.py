"""What a message that cannot be decoded becomes, whatever its encoding: a :class:`FormatError`
naming the field at fault (and, in binary, the byte offset), answered 30 by the switch."""

from __future__ import annotations

__all__ = ["RESPONSE_MTIS", "FormatError"]

RESPONSE_MTIS = {
    "0100": "0110",
    "0200": "0210",
    "0220": "0230",
    "0400": "0410",
    "0420": "0430",
    "0421": "0430",
    "0500": "0510",
    "0800": "0810",
}
"""Each request MTI's response MTI."""


class FormatError(ValueError):
    """A message that cannot be decoded, with the field at fault and what could be salvaged.

    ``str()`` holds no field values, so it is safe to log; ``short`` fits DE44 (25 chars).
    ``offset``: where in a binary message the field at fault starts (bytes from the MTI).
    """

    ECHOED = ("7", "3", "4", "15", "60", "70", "90")
    """The DE numbers besides MTI and STAN that are salvaged into ``echoed``."""

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        mti: str | None = None,
        stan: int | None = None,
        offset: int | None = None,
        echoed: dict[str, object] | None = None,
    ) -> None:
        self.reason = reason
        self.echoed: dict[str, object] = echoed or {}
        """Identity fields read from the payload by DE number (``"7"``, ``"3"``, ``"4"``, ...),
        unchecked: the answer echoes those that are valid, so the sender can match it."""
        self.field = field
        self.mti = mti
        self.stan = stan
        self.offset = offset
        where = f"field {field}: " if field else ""
        at = f" (at byte {offset})" if offset is not None else ""
        super().__init__(f"{where}{reason}{at}")

    @property
    def response_mti(self) -> str:
        """The MTI to answer with: 0810 for an 0800, 0410 for an 0400, else 0210."""
        return RESPONSE_MTIS.get(self.mti or "", "0210")

    @property
    def short(self) -> str:
        """At most 25 characters for DE44, e.g. ``"format error: DE4"``."""
        if self.field is None:
            return self.reason[:25]
        label = self.field if self.field == "mti" else f"DE{self.field}"
        return f"format error: {label}"[:25]
