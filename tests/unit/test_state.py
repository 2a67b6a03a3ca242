"""The terminal's non-volatile memory: the request in flight and the next STAN reach the disk
at once, so a terminal killed mid-sale neither forgets the sale nor reuses its STAN."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tpesim.state import DeviceState, StateFileError, TerminalBusyError


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


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        "{not json",
        '{"stans": {"DZAL0001": "x"}}',
        '{"stans": {"DZAL0001": -5}}',
        '{"stans": {"DZAL0001": 99999999}}',
        '{"chips": {"CIB-VALID": 1e400}}',
        '{"chips": {"CIB-VALID": 99999999999}}',
        '{"chips": [1]}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    """Whatever is wrong with the file, one StateFileError naming it (the CLI's one line)."""
    path = tmp_path / "devices.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StateFileError, match=r"state file .*devices\.json"):
        DeviceState(path)


def test_a_state_file_that_cannot_be_a_file_is_a_clear_error(tmp_path: Path) -> None:
    """A directory in its place, or a file where its directory should be."""
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(StateFileError, match=r"dir\.json"):
        DeviceState(tmp_path / "dir.json")
    (tmp_path / "plain").write_text("", encoding="utf-8")
    with pytest.raises(StateFileError, match=r"plain/devices\.json: Not a directory"):
        DeviceState(tmp_path / "plain" / "devices.json")


def test_a_symlinked_state_file_keeps_its_link(tmp_path: Path) -> None:
    """The link's target is what is written; the link stays a link."""
    target = tmp_path / "real.json"
    link = tmp_path / "devices.json"
    link.symlink_to(target)
    DeviceState(link).store_in_flight("DZAL0001", None, next_stan=7)
    assert link.is_symlink() and DeviceState(target).stans == {"DZAL0001": 7}
