"""`rig check` on the simulated rig's own rig file: a wrong expected serial and a simulator switched off are each
named, exit 1; a rig file that cannot be used is one line, exit 2.

The tracker is left out of these rigs (its initialisation takes seconds, and its driver refuses a wrong serial
itself at open, which the scanner case covers): the whole rig, tracker included, is checked against
`rig simulate`'s file in test_rig_simulate.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessions.cli import main as cli_main
from sessions.rig.check import check_rig
from sessions.rig.config import load_rig
from sessions.rig.toml_out import to_toml
from sessions.simulated_rig import SimulatedRig


@pytest.fixture(scope="module")
def rig() -> Iterator[SimulatedRig]:
    with SimulatedRig(seed=11) as r:
        yield r


def rig_file(rig: SimulatedRig, path: Path, edit: Any = None) -> Path:
    """The simulated rig's file without its tracker, edited by `edit(data)`."""
    rig.write_rig_file(path)
    data = load_rig(path).model_dump(mode="json", exclude_none=True)
    del data["jaw"]
    if edit is not None:
        edit(data)
    path.write_text(to_toml(data))
    return path


def test_a_device_that_is_not_the_expected_one_is_named(rig: SimulatedRig, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    def wrong(data: dict[str, Any]) -> None:
        data["emg"]["boards"][0]["expected_serial"] = "SIM-BIT-X"  # checked after open against its identity
        data["scanner"]["expected_serial"] = "SIM-SCAN-X"  # the scanner's USB check refuses it at open

    path = rig_file(rig, tmp_path / "rig.toml", wrong)
    assert cli_main(["rig", "check", "--rig", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == ["amuse-acq: error: rig check: 2 of 4 devices missing, not the expected one "
                                        "or silent: emg_a, scanner"]
    lines = out.splitlines()
    assert "  PROBLEM: not the expected one: expected BITalino (r)evolution serial 'SIM-BIT-X', found " \
           "serial 'SIM-BIT-A' (port " in out
    scanner = [line for line in lines if line.startswith("scanner:")]
    assert len(scanner) == 1 and "not opened: wrong scanner: expected USB 1209:0001 serial 'SIM-SCAN-X'" in scanner[0]
    # the others were opened, identified and read, and said so
    emg_b = lines.index(next(line for line in lines if line.startswith("emg_b: BITalino (r)evolution, serial SIM-BIT-B")))
    assert "link up" in lines[emg_b] and lines[emg_b + 1].startswith("  emg_b: ")
    assert " samples, " in lines[emg_b + 1] and "nominal 1000; DA_R " in lines[emg_b + 1]
    assert any(line.startswith("plate: AMUSE-CB4, serial SIM-CB4-000123") for line in lines)


def test_the_summary_is_a_second_of_each_stream(rig: SimulatedRig, tmp_path: Path) -> None:
    result = check_rig(load_rig(rig_file(rig, tmp_path / "rig.toml")), window_s=1.0, usb_backend=rig.usb_backend)
    assert result.ok and result.failed == []
    streams = {s.stream: s for d in result.devices for s in d.streams}
    assert sorted(streams) == ["cop", "emg_a", "emg_b", "plate_raw"]
    for name, nominal in (("emg_a", 1000), ("emg_b", 1000), ("plate_raw", 100)):
        s = streams[name]
        # samples stamped in the window only (not what the board buffered while the others were opened)
        assert 0.6 * nominal <= s.samples <= 1.3 * nominal, (name, s.samples)
        assert s.rate_hz is not None and abs(s.rate_hz - nominal) < 0.05 * nominal
        assert all(lo < hi for lo, hi in zip(s.minimum, s.maximum)) and not s.flat and not s.saturated
    assert streams["emg_a"].units == ("uV",) * 4 and streams["plate_raw"].units == ("kg",) * 4
    assert 40 < sum(streams["plate_raw"].maximum) < 200  # the simulated subject stands on the plate: kg


def test_a_simulator_switched_off_is_named(rig: SimulatedRig, tmp_path: Path) -> None:
    # last in this module: the device stays off
    path = rig_file(rig, tmp_path / "rig.toml")
    rig.stop_device("emg_b")
    result = check_rig(load_rig(path), window_s=0.5, usb_backend=rig.usb_backend)
    assert result.failed == ["emg_b"]
    (emg_b,) = [d for d in result.devices if d.device == "emg_b"]
    assert emg_b.identity is None and emg_b.lines() == [
        f"emg_b: not opened: BITalino board 'emg_b': expected a serial device at '{rig.workdir}/dev/bitalino_b', "
        "found nothing there"]
    assert result.lines()[-1] == "rig check: 1 of 4 devices missing, not the expected one or silent: emg_b"


def test_an_unusable_rig_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["rig", "check", "--rig", str(tmp_path / "none.toml")]) == 2
    assert capsys.readouterr().err.strip() == f"amuse-acq: error: rig file {tmp_path / 'none.toml'}: no such file"
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "r"\n[jaw]\ndriver = "aurora"\nport = "/dev/ttyUSB0"\nincisal_offset_mm = [0, 0, 0]\n')
    assert cli_main(["rig", "check", "--rig", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"amuse-acq: error: rig file {bad}: jaw.port: port '/dev/ttyUSB0' is")
