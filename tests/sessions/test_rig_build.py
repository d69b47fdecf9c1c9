"""From a rig file to its sources: ports given by USB serial found through a (faked) pyserial `comports`, the
adapter's serial as a BITalino's identity, two names for one tty refused, every driver built (not opened)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from acquisition.stream import DeviceIdentity
from drivers.emg.bitalino.driver import BitalinoEmgSource
from drivers.emg.lsl_emg import LslEmgSource
from drivers.jaw.aurora.driver import AuroraJawSource
from drivers.scanner.source import ScannerSource
from drivers.stabilometry.balance_board import BalanceBoardSource
from drivers.stabilometry.cell_board.driver import CellBoardSource
from drivers.stabilometry.lsl_plate import LslPlateSource
from sessions.rig.build import build_device, build_sources, identity_problem, raw_limits
from sessions.rig.config import parse_rig
from sessions.rig.ports import RigError, SerialPort, resolve_port


@dataclass
class FakePort:
    """What pyserial's list_ports.comports() gives: device, vid, pid, serial_number."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None


BUS = [FakePort("/dev/ttyUSB0", 0x0403, 0x6001, "A5XK3RJT"), FakePort("/dev/ttyUSB1", 0x0403, 0x6001, "A5XK3RJU"),
       FakePort("/dev/ttyUSB2", 0x10C4, 0xEA60, "A5XK3RJU"), FakePort("/dev/ttyACM0", None, None, None)]


def bus() -> list[FakePort]:
    return list(BUS)


RIG = '''name = "room-1"
[emg]
driver = "bitalino"
[emg.options]
rate = 100
[[emg.boards]]
stream = "emg_a"
usb_serial = "A5XK3RJT"
expected_serial = "A5XK3RJT"
inputs = { A1 = "TA_R", A2 = "TA_L" }
[[emg.boards]]
stream = "emg_b"
usb_serial = "A5XK3RJU"
usb_vid = 0x0403
inputs = { A1 = "DA_R" }
[jaw]
driver = "aurora"
usb_serial = "A5XK3RJU"
usb_vid = 0x10c4
expected_serial = "P6-00417"
incisal_offset_mm = [0.0, 15.0, 25.0]
[plate]
driver = "cell_board"
port = "/dev/amuse/cellboard"
[plate.options]
rate_hz = 200
[scanner]
driver = "export_folder"
folder = "/srv/export"
usb_vid = 0x1209
usb_pid = 0x0001
expected_serial = "SCAN-1"
'''


def test_usb_serial_is_resolved_through_the_bus() -> None:
    cfg = parse_rig(RIG)
    built = build_sources(cfg, comports=bus)
    emg, jaw, plate = built.sources
    assert isinstance(emg, BitalinoEmgSource) and isinstance(jaw, AuroraJawSource)
    assert isinstance(plate, CellBoardSource) and isinstance(built.scanner, ScannerSource)
    # the boards on the ports the bus says, the adapter's serial kept as the board's identity
    assert [(b.stream, b.path, b.usb_serial) for b in emg.config.boards] == [
        ("emg_a", "/dev/ttyUSB0", "A5XK3RJT"), ("emg_b", "/dev/ttyUSB1", "A5XK3RJU")]
    assert emg.config.rate == 100 and not emg.config.simulated
    assert jaw.cfg.path == "/dev/ttyUSB2" and jaw.cfg.expected_serial == "P6-00417"
    assert plate.config.port == "/dev/amuse/cellboard" and plate.config.rate_hz == 200
    usb = built.scanner.config.usb
    assert usb is not None and (usb.vid, usb.pid, usb.serial) == (0x1209, 0x0001, "SCAN-1")
    assert built.raw_limits == {"emg_a": (0, 1023), "emg_b": (0, 1023)} == raw_limits(cfg)


def test_a_usb_serial_not_on_the_bus_or_on_two_ports_is_one_line() -> None:
    cfg = parse_rig(RIG.replace('usb_serial = "A5XK3RJT"', 'usb_serial = "NOPE"'))
    with pytest.raises(RigError) as err:
        build_sources(cfg, comports=bus)
    msg = str(err.value)
    assert msg.startswith("emg_a: no serial port with USB serial 'NOPE'; found: /dev/ttyUSB0 [0403:6001 serial=A5XK3RJT]")
    assert "/dev/ttyACM0 [*:* serial=-]" in msg and "\n" not in msg
    spec = SerialPort(usb_serial="A5XK3RJU")
    with pytest.raises(RigError, match=r"^emg_b: 2 ports match USB serial 'A5XK3RJU' .*give usb_vid and usb_pid"):
        resolve_port("emg_b", spec, comports=bus)
    with pytest.raises(RigError, match="no serial ports at all"):
        resolve_port("emg_b", spec, comports=lambda: [])


def test_a_stable_path_keeps_its_name_and_finds_its_adapter_serial(tmp_path: Path) -> None:
    tty = tmp_path / "ttyUSB7"
    tty.write_text("")
    link = tmp_path / "by-id-bitalino"
    os.symlink(tty, link)
    spec = parse_rig(RIG.replace('usb_serial = "A5XK3RJT"', f'port = "{link}"')).emg.boards[0]  # type: ignore[union-attr]
    port = resolve_port("emg_a", spec, comports=lambda: [FakePort(str(tty), 0x0403, 0x6001, "BY-ID-SERIAL")])
    assert (port.path, port.usb_serial) == (str(link), "BY-ID-SERIAL")  # opened by its stable name
    assert resolve_port("emg_a", spec, comports=bus).usb_serial is None  # a pty or Bluetooth port: none


def test_two_names_for_one_tty_are_refused_when_built(tmp_path: Path) -> None:
    tty = tmp_path / "ttyUSB0"
    tty.write_text("")
    a, b = tmp_path / "emg-a", tmp_path / "aurora"
    os.symlink(tty, a)
    os.symlink(tty, b)
    text = RIG.replace('usb_serial = "A5XK3RJT"', f'port = "{a}"').replace(
        'usb_serial = "A5XK3RJU"\nusb_vid = 0x10c4', f'port = "{b}"')
    with pytest.raises(RigError, match=f"^emg_a and jaw both lead to {tty}: two instruments cannot share a port$"):
        build_sources(parse_rig(text), comports=bus)


def test_lsl_and_balance_board_rigs_build_their_sources() -> None:
    cfg = parse_rig('''name = "lsl-room"
simulated = true
[emg]
driver = "lsl"
lsl_name = "Amp"
channel_map = { ch1 = "TA_R" }
[emg.options]
record_as = "emg_amp"
[plate]
driver = "lsl"
stream_name = "Force"
''')
    emg, plate = build_sources(cfg, comports=bus).sources
    assert isinstance(emg, LslEmgSource) and emg.config.record_as == "emg_amp" and emg.config.simulated
    assert isinstance(plate, LslPlateSource) and plate.config.stream_name == "Force"
    wbb = parse_rig('name = "r"\n[plate]\ndriver = "balance_board"\n[plate.options]\nreconnect_s = 1.0\n')
    (src,) = build_sources(wbb).sources
    assert isinstance(src, BalanceBoardSource) and src.config.device == "auto" and src.config.reconnect_s == 1.0


def test_one_board_alone_for_rig_check() -> None:
    cfg = parse_rig(RIG)
    dev = cfg.devices()[1]
    src = build_device(cfg, dev, comports=bus)
    assert isinstance(src, BitalinoEmgSource) and [b.stream for b in src.config.boards] == ["emg_b"]


def test_identity_problem_names_the_device_and_both_serials() -> None:
    emg_a = parse_rig(RIG).devices()[0]
    found = DeviceIdentity(model="BITalino (r)evolution", serial="OTHER")
    assert identity_problem(emg_a, found) == ("emg_a: expected BITalino (r)evolution serial 'A5XK3RJT', found serial "
                                              "'OTHER' (USB serial 'A5XK3RJT')")
    assert identity_problem(emg_a, found.model_copy(update={"serial": "A5XK3RJT"})) is None
    assert identity_problem(parse_rig(RIG).devices()[1], found) is None  # no serial expected
