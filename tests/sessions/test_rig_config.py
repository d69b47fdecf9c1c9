"""The rig file: refused in one line naming the key (unknown key, bad port, two instruments on one port), the
shipped example parses and is the one in docs/rig.md, and a rig written as TOML reads back the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sessions.rig.config import RigConfigError, load_rig, parse_rig
from sessions.rig.toml_out import model_toml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "sessions" / "rig" / "example-rig.toml"

BOARD_A = '''
[[emg.boards]]
stream = "emg_a"
port = "/dev/amuse/emg-a"
inputs = { A1 = "TA_R" }
'''
BASE = f'''
name = "room-1"
[emg]
driver = "bitalino"
{BOARD_A}
[[emg.boards]]
stream = "emg_b"
usb_serial = "A5XK3RJU"
inputs = {{ A1 = "DA_R" }}

[jaw]
driver = "aurora"
port = "/dev/amuse/aurora"
incisal_offset_mm = [0.0, 15.0, 25.0]
'''


def refused(text: str) -> str:
    with pytest.raises(RigConfigError) as err:
        parse_rig(text, source="rig.toml")
    line = str(err.value)
    assert "\n" not in line and line.startswith("rig.toml: ")
    return line


def test_the_shipped_example_parses_and_is_the_one_in_the_docs() -> None:
    cfg = load_rig(EXAMPLE)
    assert [d.name for d in cfg.devices()] == ["emg_a", "emg_b", "jaw", "plate", "scanner"]
    assert cfg.emg is not None and cfg.emg.driver == "bitalino" and cfg.emg.options["rate"] == 1000
    assert cfg.jaw is not None and cfg.jaw.driver_config("/dev/x", simulated=False).expected_model == "Aurora"
    assert not cfg.simulated
    doc = (ROOT / "docs" / "rig.md").read_text()
    block = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert block is not None and block.group(1) == EXAMPLE.read_text(), "docs/rig.md's example drifted"


def test_a_rig_written_as_toml_reads_back_the_same() -> None:
    cfg = load_rig(EXAMPLE)
    assert parse_rig(model_toml(cfg, keep=("version",))) == cfg
    assert parse_rig(model_toml(parse_rig(BASE))) == parse_rig(BASE)


@pytest.mark.parametrize(("text", "key"), [
    (BASE + "colour = 'blue'\n", "jaw.colour: unknown key"),
    ("colour = 'blue'\n" + BASE, "colour: unknown key"),
    (BASE.replace('stream = "emg_b"', 'stream = "emg_b"\nprot = "/dev/x"'), "emg.boards[1].prot: unknown key"),
    (BASE + "[jaw.options]\npol_command = 'TX'\n", "jaw: options.pol_command: unknown key"),
    (BASE + "[jaw.options]\npoll_command = 'QX'\n", "jaw: options.poll_command: Input should be 'TX' or 'BX'"),
    (BASE + "[jaw.options]\npath = '/dev/x'\n", "jaw: options.path: set by the rig file itself"),
    (BASE + "[emg.options]\nrate = 500\n", "emg: options.rate:"),
    (BASE.replace('A1 = "DA_R"', 'A1 = "XX_R"'), "emg.boards[1]: inputs: channel label 'XX_R'"),
    (BASE.replace('driver = "aurora"\n', ""), "jaw.driver: missing"),
    (BASE.replace('driver = "bitalino"', 'driver = "myo"'), "emg: Input tag 'myo'"),
    (BASE.replace('driver = "bitalino"\n', ""), "emg: missing key `driver`"),
    ('name = "room-1"\n', "at least one of [emg], [jaw], [plate], [scanner]"),
])
def test_a_bad_key_is_refused_naming_it(text: str, key: str) -> None:
    assert key in refused(text)


@pytest.mark.parametrize(("port", "why"), [
    ("/dev/ttyUSB0", "numbered by the kernel"),
    ("/dev/ttyACM1", "numbered by the kernel"),
    ("/dev/pts/3", "numbered by the kernel"),
    ("ttyUSB0", "not an absolute path"),
    ("/dev/serial/by-id/../ttyUSB0", "not a normalised path"),
    ("/dev/amuse/emg-a/", "not a normalised path"),
])
def test_a_port_that_does_not_name_its_device_is_refused(port: str, why: str) -> None:
    line = refused(BASE.replace('"/dev/amuse/aurora"', f'"{port}"'))
    assert line.startswith("rig.toml: jaw.port: ") and why in line


def test_a_port_is_a_path_or_a_usb_serial_not_both_nor_neither() -> None:
    both = BASE.replace('usb_serial = "A5XK3RJU"', 'usb_serial = "A5XK3RJU"\nport = "/dev/amuse/emg-b"')
    assert "emg.boards[1]: give exactly one of `port`" in refused(both)
    neither = BASE.replace('usb_serial = "A5XK3RJU"\n', "")
    assert "emg.boards[1]: give exactly one of `port`" in refused(neither)
    ids_on_path = BASE.replace('port = "/dev/amuse/aurora"', 'port = "/dev/amuse/aurora"\nusb_vid = 0x0403')
    assert "jaw: usb_vid / usb_pid go with usb_serial" in refused(ids_on_path)


def test_two_instruments_on_one_port_are_refused() -> None:
    same_path = BASE + '[plate]\ndriver = "cell_board"\nport = "/dev/amuse/aurora"\n'
    assert "jaw and plate are both on port /dev/amuse/aurora" in refused(same_path)
    same_usb = BASE.replace('port = "/dev/amuse/aurora"', 'usb_serial = "A5XK3RJU"\nusb_pid = 0x6001')
    assert "emg_b and jaw are both on USB serial 'A5XK3RJU'" in refused(same_usb)
    # the same serial number on adapters of two vendors is two ports
    two_vendors = BASE.replace('usb_serial = "A5XK3RJU"', 'usb_serial = "A5XK3RJU"\nusb_vid = 0x0403') \
        .replace('port = "/dev/amuse/aurora"', 'usb_serial = "A5XK3RJU"\nusb_vid = 0x10c4')
    assert [d.where for d in parse_rig(two_vendors).devices()][1:] == ["USB serial 'A5XK3RJU' (0403:*)",
                                                                       "USB serial 'A5XK3RJU' (10c4:*)"]


def test_two_boards_with_one_stream_name_are_refused() -> None:
    line = refused(BASE.replace('stream = "emg_b"', 'stream = "emg_a"'))
    assert line == "rig.toml: emg: stream names repeat: ['emg_a', 'emg_a']"


def test_scanner_usb_ids_and_simulated_device() -> None:
    scanner = '[scanner]\ndriver = "export_folder"\nfolder = "/srv/export"\n'
    assert parse_rig('name = "r"\n' + scanner).scanner.usb() is None  # type: ignore[union-attr]
    assert "give both usb_vid and usb_pid" in refused('name = "r"\n' + scanner + "usb_vid = 0x1209\n")
    assert "expected_serial is the scanner's USB serial" in refused('name = "r"\n' + scanner + "expected_serial = 'S'\n")
    assert "scanner.folder: folder 'export' is not an absolute path" in refused(
        'name = "r"\n' + scanner.replace("/srv/export", "export"))
    sim_usb = scanner + "[scanner.simulated_usb]\nvid = 0x1209\npid = 1\n"
    assert "only for a simulated rig" in refused('name = "r"\n' + sim_usb)
    assert parse_rig('name = "r"\nsimulated = true\n' + sim_usb).simulated


def test_other_drivers_parse() -> None:
    text = '''name = "lsl-room"
[emg]
driver = "lsl"
lsl_name = "Amplifier EMG"
channel_map = { "ch1" = "TA_R", "ch2" = "TA_L" }
expected_serial = "AMP-123"
[plate]
driver = "balance_board"
device = "/dev/input/by-id/bluetooth-wbb-event"
'''
    cfg = parse_rig(text)
    assert [(d.name, d.driver, d.expected_serial) for d in cfg.devices()] == [("emg", "lsl", "AMP-123"),
                                                                           ("plate", "balance_board", None)]
    assert "kernel" in refused(text.replace("/dev/input/by-id/bluetooth-wbb-event", "/dev/input/event3"))
    lsl_plate = 'name = "r"\n[plate]\ndriver = "lsl"\nstream_name = "Force"\n[plate.options]\nh_mm = 41.0\n'
    assert parse_rig(lsl_plate).plate.driver_config().h_mm == 41.0  # type: ignore[union-attr]


def test_load_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(RigConfigError, match=r"rig file .*nope.toml: no such file$"):
        load_rig(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "r"\n[emg\n')
    with pytest.raises(RigConfigError, match=r"bad.toml: not valid TOML: .*line 2"):
        load_rig(bad)
