"""A plain ISO 8583 spec, outside tpesim's code: pyiso8583's own bundled binary-bitmap spec,
changed only where docs/protocol.md ("ISO 8583 binary") says tpesim differs. What an integrator
would write from that page; the tests check tpesim reads and writes what it does."""

from __future__ import annotations

import copy
from typing import Any

from iso8583 import specs

__all__ = ["plain_spec"]


def plain_spec() -> dict[str, Any]:
    """DE52 and DE53 of variable length (LLVAR, binary), DE124 with a four-digit length."""
    spec = copy.deepcopy(specs.default)
    spec["52"] = {"data_enc": "b", "len_enc": "ascii", "len_type": 2, "max_len": 16, "desc": "PIN"}
    spec["53"] = {"data_enc": "b", "len_enc": "ascii", "len_type": 2, "max_len": 48, "desc": "KSN"}
    spec["124"] = {**spec["124"], "len_type": 4, "max_len": 9999}
    return spec
