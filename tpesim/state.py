"""What simulated devices remember between runs: chip counters (ATC), terminal STANs, the
request each terminal had in flight (so that after a power loss it reverses what it cannot
confirm), and each terminal's last sale (what its cancel key voids).

A real card keeps its ATC and a real TPE its STAN in non-volatile memory; ``tpesim terminal``
keeps them in one small JSON file so that repeated runs neither replay an ATC (05 at the issuer)
nor reuse a (TID, STAN, DE7) key (94 at the switch). A demo keeps them in memory only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["DeviceState", "default_state_file"]


def default_state_file() -> Path:
    """``$XDG_STATE_HOME/tpesim/devices.json`` (``~/.local/state/tpesim/devices.json``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tpesim" / "devices.json"


class DeviceState:
    """Chip ATCs by card id and next STANs by TID, loaded from and saved to ``path``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.chips: dict[str, int] = {}
        self.stans: dict[str, int] = {}
        self.in_flight: dict[str, str] = {}
        self.last_sales: dict[str, str] = {}
        """Each terminal's last approved sale or refund (JSON wire form): what ``--void``
        cancels."""
        if path is not None and path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.chips = {str(k): int(v) for k, v in raw.get("chips", {}).items()}
            self.stans = {str(k): int(v) for k, v in raw.get("stans", {}).items()}
            self.in_flight = {str(k): str(v) for k, v in raw.get("in_flight", {}).items()}
            self.last_sales = {str(k): str(v) for k, v in raw.get("last_sales", {}).items()}

    def __repr__(self) -> str:
        return f"<DeviceState {self.path} chips={len(self.chips)} terminals={len(self.stans)}>"

    def load_in_flight(self, tid: str) -> bytes | None:
        """The request ``tid`` sent and never saw the end of (None: nothing pending)."""
        text = self.in_flight.get(tid)
        return None if text is None else text.encode()

    def store_in_flight(self, tid: str, request: bytes | None, next_stan: int) -> None:
        """Remember (or, with None, forget) ``tid``'s request in flight, and its next STAN, on
        disk at once: the terminal's non-volatile memory, written before the request leaves (a
        terminal powered up again must not reuse the STAN of the request it lost)."""
        self.stans[tid] = next_stan
        if request is None:
            self.in_flight.pop(tid, None)
        else:
            self.in_flight[tid] = request.decode()
        self.save()

    def save(self) -> None:
        """Write the state back (no file: nothing to do)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"chips": self.chips, "stans": self.stans, "in_flight": self.in_flight,
                "last_sales": self.last_sales}  # fmt: skip
        self.path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
