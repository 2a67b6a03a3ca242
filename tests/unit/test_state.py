"""The terminal's non-volatile memory: the request in flight and the next STAN reach the disk
at once, so a terminal killed mid-sale neither forgets the sale nor reuses its STAN."""

from __future__ import annotations

from pathlib import Path

from tpesim.state import DeviceState


def test_in_flight_and_next_stan_survive_a_power_loss(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    memory = DeviceState(path)
    memory.store_in_flight("DZAL0001", b'{"mti":"0200","11":"000042"}', next_stan=43)
    after_power_loss = DeviceState(path)  # nothing else was saved: the process died here
    assert after_power_loss.load_in_flight("DZAL0001") == b'{"mti":"0200","11":"000042"}'
    assert after_power_loss.stans["DZAL0001"] == 43
    after_power_loss.store_in_flight("DZAL0001", None, next_stan=45)
    again = DeviceState(path)
    assert again.load_in_flight("DZAL0001") is None and again.stans["DZAL0001"] == 45
