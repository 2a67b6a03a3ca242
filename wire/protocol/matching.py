"""Which request a response answers: the rule a terminal applies before believing an answer.

A response is the answer to a request only when it echoes the request's identity and money:
the MTI pair (0200 → 0210, 0420/0421 → 0430, ...), DE11 (STAN), DE7 (transmission time), DE41
(TID), and, where the request has them, DE3 (processing code), DE4 (amount), DE15 (a batch's
settlement date), DE60 (its batch number), DE70 (network code) and DE90 (original data
elements). Matching on (MTI,
STAN) alone is not enough: a STAN is reused after a power loss or a wrap, and a stored answer
to an earlier request under the same STAN (a duplicate's replay) would then be taken for the
answer to a new one, a false approval at the till.

Pure: no I/O. The same rule holds for JSON and ISO 8583 binary, which decode to the same models.
"""

from __future__ import annotations

from wire.protocol.messages import IsoMessage

__all__ = ["ECHOED_FIELDS", "mismatch"]

ECHOED_FIELDS: tuple[tuple[str, str], ...] = (
    ("11", "stan"),
    ("7", "transmission_time"),
    ("41", "terminal_id"),
    ("3", "processing_code"),
    ("4", "amount"),
    ("15", "settlement_date"),
    ("60", "batch_number"),
    ("70", "network_code"),
    ("90", "original_data"),
)
"""(DE number, attribute): what an answer must echo of its request, when the request has it."""


def mismatch(request: IsoMessage, response: IsoMessage) -> str | None:
    """Why ``response`` is not the answer to ``request`` (``"DE4 differs"``), or None when it
    is. A field the request carries must come back equal; one it lacks is not looked at."""
    if response.mti != request.response_mti:
        return f"MTI {response.mti} does not answer {request.mti}"
    for number, name in ECHOED_FIELDS:
        sent = getattr(request, name, None)
        if sent is None:
            continue
        echoed = getattr(response, name, None)
        if echoed is None:
            return f"DE{number} missing"
        if echoed != sent:
            return f"DE{number} differs"
    return None
