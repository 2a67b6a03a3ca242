"""The terminal's non-volatile memory: the request in flight and the next STAN reach the disk
at once, so a terminal killed mid-sale neither forgets the sale nor reuses its STAN."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards import default_card_set
from terminal import CardPresentation, RequestBuilder
from tpesim.state import DeviceState, StateFileError, TerminalBusyError
from wire import default_registry
from wire.protocol import decode_request, encode
from wire.protocol.messages import FinancialRequest


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


# -- card data at rest (issue 21) -------------------------------------------------------------

PIN_BLOCK = "A1B2C3D4E5F60718"
ICC_DATA = "9F2608C0FFEE0123456789"
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def _sale(stan: int = 42) -> FinancialRequest:
    """A chip + PIN sale of DZAL0001 with every sensitive element a request can carry."""
    profile = default_registry().get("DZAL0001")
    assert profile is not None
    card = CardPresentation.from_card(default_card_set().card("EDH-VALID"), default_card_set())
    builder = RequestBuilder(profile, first_stan=stan)
    return builder.purchase(card, 1_500, NOW, pin_block=PIN_BLOCK, ksn="FFFF9876543210E00001",
                            icc_data=ICC_DATA, track2=f"{card.pan}D{card.expiry}2011234",
                            card_security_code="123")  # fmt: skip


def _card_data(sale: FinancialRequest) -> list[str]:
    assert sale.track2 is not None and sale.card_security_code is not None
    return [sale.pan, PIN_BLOCK, ICC_DATA, sale.track2, sale.expiry + sale.pan,
            sale.pan + sale.expiry, f'"{sale.card_security_code}"']  # fmt: skip


def _reversal(original: FinancialRequest) -> bytes:
    """The 0420 a terminal builds from ``original`` (what recovery and voids send)."""
    profile = default_registry().get("DZAL0001")
    assert profile is not None
    return encode(RequestBuilder(profile).reversal_advice(original, NOW))


def test_the_state_file_keeps_what_a_reversal_needs_and_no_card_data(tmp_path: Path) -> None:
    """A request in flight and a last sale reach the disk without PIN block, chip data, track 2,
    CVV2, and with the PAN and expiry sealed; read back, they give the very same reversal."""
    path = tmp_path / "devices.json"
    sale, refund = _sale(42), _sale(43).model_copy(update={"processing_code": "200000"})
    state = DeviceState(path)
    state.claim(["DZAL0001"])
    state.store_in_flight("DZAL0001", encode(sale), next_stan=43)
    state.keep_last_sale("DZAL0001", encode(refund))
    state.save()
    state.release()
    on_disk = path.read_bytes()
    assert not [secret for secret in _card_data(sale) if secret.encode() in on_disk]
    again = DeviceState(path)
    in_flight, last = again.load_in_flight("DZAL0001"), again.load_last_sale("DZAL0001")
    assert in_flight is not None and last is not None
    for kept, original in ((in_flight, sale), (last, refund)):
        request = decode_request(kept)
        assert isinstance(request, FinancialRequest)
        assert (request.pin_block, request.icc_data, request.track2) == (None, None, None)
        assert _reversal(request) == _reversal(original)


def test_an_older_state_file_loads_and_loses_its_card_data_at_the_next_write(
    tmp_path: Path,
) -> None:
    """A file written before issue 21 (full requests in clear, mode 0644) still loads, its
    requests still reverse; the next write reduces and seals them, the file becomes 0600."""
    path = tmp_path / "devices.json"
    sale, other = _sale(42), _sale(7).model_copy(update={"terminal_id": "DZAL0002"})
    path.write_text(json.dumps({
        "chips": {"EDH-VALID": 3}, "stans": {"DZAL0001": 43, "DZAL0002": 8},
        "in_flight": {"DZAL0001": encode(sale).decode()},
        "last_sales": {"DZAL0002": encode(other).decode()},
    }), encoding="utf-8")  # fmt: skip
    path.chmod(0o644)
    old = DeviceState(path)
    assert path.stat().st_mode & 0o777 == 0o600  # tightened at once
    assert old.load_in_flight("DZAL0001") == encode(sale)
    old.store_in_flight("DZAL0003", None, next_stan=5)  # any write
    on_disk = path.read_bytes()
    assert not [s for s in _card_data(sale) + _card_data(other) if s.encode() in on_disk]
    migrated = DeviceState(path)
    assert migrated.chips == {"EDH-VALID": 3}
    for load, original in ((migrated.load_in_flight, sale), (migrated.load_last_sale, other)):
        kept = load(original.terminal_id)
        assert kept is not None
        request = decode_request(kept)
        assert isinstance(request, FinancialRequest) and request.pan == original.pan
        assert request.key == original.key


def test_the_state_file_its_locks_and_its_key_are_the_owners_alone(tmp_path: Path) -> None:
    """Mode 0600 for the file, the storage key, and every lock file, one an older tpesim left
    0644 included, whatever the umask."""
    path = tmp_path / "devices.json"
    old_lock = tmp_path / "devices.json.DZAL0002.lock"
    old_lock.write_text("123", encoding="utf-8")
    old_lock.chmod(0o644)
    umask = os.umask(0)
    try:
        state = DeviceState(path)
        state.claim(["DZAL0001", "DZAL0002"])
        state.store_in_flight("DZAL0001", encode(_sale()), next_stan=43)
        state.next_atc("EDH-VALID", 0)
        state.release()
    finally:
        os.umask(umask)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == ["devices.json", "devices.json.DZAL0001.lock", "devices.json.DZAL0002.lock",
                    "devices.json.key", "devices.json.lock"]  # fmt: skip
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == dict.fromkeys(
        made, 0o600
    )


def test_a_record_that_no_longer_opens_is_forgotten_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An edited record (its amount changed) or a lost storage key: the request cannot be read
    back, which is said, and the terminal goes on (no reversal is built from a wrong record)."""
    path = tmp_path / "devices.json"
    DeviceState(path).store_in_flight("DZAL0001", encode(_sale()), next_stan=43)
    raw = json.loads(path.read_text(encoding="utf-8"))
    record = json.loads(raw["in_flight"]["DZAL0001"])
    raw["in_flight"]["DZAL0001"] = json.dumps(record | {"4": "000000999999"})
    path.write_text(json.dumps(raw), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tpesim.state"):
        assert DeviceState(path).load_in_flight("DZAL0001") is None
    assert "DZAL0001's request in flight cannot be read back" in caplog.text
    DeviceState(path).store_in_flight("DZAL0001", encode(_sale()), next_stan=44)
    (tmp_path / "devices.json.key").unlink()
    assert DeviceState(path).load_in_flight("DZAL0001") is None
