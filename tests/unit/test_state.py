"""The terminal's non-volatile memory: the request in flight and the next STAN reach the disk
at once, so a terminal killed mid-sale neither forgets the sale nor reuses its STAN."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tpesim.state import DeviceState, TerminalBusyError


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


def test_a_terminal_is_driven_by_one_process_at_a_time(tmp_path: Path) -> None:
    """A second claim on a terminal another holder has is refused at once, naming the pid;
    other terminals stay free; released, the terminal can be claimed again."""
    path = tmp_path / "devices.json"
    first, second = DeviceState(path), DeviceState(path)
    first.claim(["DZAL0001"])
    with pytest.raises(TerminalBusyError, match=f"DZAL0001 .*pid {os.getpid()}"):
        second.claim(["DZAL0002", "DZAL0001"])
    second.claim(["DZAL0002"])
    first.release()
    second.claim(["DZAL0001"])


def test_processes_sharing_the_file_keep_each_others_terminals(tmp_path: Path) -> None:
    """Two holders of the file each save their own terminals: neither overwrites the other's
    (the lost update of issue 20, item 5), in whichever order they save."""
    path = tmp_path / "devices.json"
    one, two = DeviceState(path), DeviceState(path)
    one.claim(["DZAL0001"])
    two.claim(["DZAL0002"])
    one.stans["DZAL0001"] = 10
    one.last_sales["DZAL0001"] = "sale-1"
    two.stans["DZAL0002"] = 20
    two.save()
    one.save()
    two.save()
    after = DeviceState(path)
    assert (after.stans, after.last_sales) == ({"DZAL0001": 10, "DZAL0002": 20},
                                               {"DZAL0001": "sale-1"})  # fmt: skip
    two.release()
    one.release()


def test_chips_shared_by_processes_draw_distinct_rising_counters(tmp_path: Path) -> None:
    """Two holders using one card interleave: every cryptogram gets the next counter, never
    one already given (05 ATC replayed at the issuer)."""
    path = tmp_path / "devices.json"
    one, two = DeviceState(path), DeviceState(path)
    drawn = [one.next_atc("EDH-VALID", 0), two.next_atc("EDH-VALID", 0),
             one.next_atc("EDH-VALID", 1), two.next_atc("EDH-VALID", 2)]  # fmt: skip
    assert drawn == [1, 2, 3, 4]
    assert DeviceState(path).chips == {"EDH-VALID": 4}


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", '{"stans": {"DZAL0001": "x"}}'])
def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "devices.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"state file .*devices\.json"):
        DeviceState(path)
