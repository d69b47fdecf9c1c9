"""The simulator answers each command byte for byte, through a real pty and pyserial (no driver involved)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from drivers.emg.bitalino.codec import FrameDecoder, check_frame, decode_state, frame_length
from drivers.emg.bitalino.simulator import BitalinoSimulator

REPO = Path(__file__).resolve().parents[3]


def read_for(port: serial.Serial, seconds: float) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out += port.read(4096)
    return out


@pytest.fixture()
def sim(tmp_path: Path):
    s = BitalinoSimulator(link=tmp_path / "bit", seed=3).start()
    port = serial.Serial(s.path, 115200, timeout=0.05)
    yield s, port
    port.close()
    s.close()


def test_version_reply_is_exact(sim) -> None:
    s, port = sim
    port.write(b"\x07")
    assert read_for(port, 0.2) == b"BITalino_v5.2\n"


def test_state_reply_and_battery_threshold(sim) -> None:
    s, port = sim
    port.write(bytes([40 << 2]))  # battery threshold 40
    port.write(b"\xb7")  # O1 on
    time.sleep(0.05)
    port.write(b"\x0b")
    raw = read_for(port, 0.2)
    assert len(raw) == 16 and check_frame(raw)
    st = decode_state(raw)
    assert st.battery_threshold == 40 and st.battery == s.battery_code and st.digital == (0, 0, 1, 0)


def test_live_mode_frames_rate_and_stop(sim) -> None:
    s, port = sim
    port.write(bytes([0xC3, 0x3D]))  # 1000 Hz, A1..A4 live
    data = read_for(port, 0.5)
    port.write(b"\x00")
    time.sleep(0.1)
    port.reset_input_buffer()
    after = read_for(port, 0.2)
    dec = FrameDecoder(4)
    out = dec.feed(data, 0.0, final=True)
    assert 400 <= out.n <= 600, out.n  # paced at 1 kHz, not as fast as possible
    assert np.array_equal(out.seq, np.arange(out.n)) and dec.crc_errors == 0
    assert np.array_equal(out.analog, s.sent()[: out.n])
    assert after == b""  # stopped
    assert s.mode == "idle"


def test_rate_codes_and_channel_mask(sim) -> None:
    s, port = sim
    port.write(bytes([0x83, 0x01 | (0b11 << 2)]))  # 100 Hz, A1+A2
    data = read_for(port, 0.5)
    port.write(b"\xff")  # idle from any mode
    assert s.rate == 100
    assert frame_length(2) == 4 and 35 <= len(data) // 4 <= 65
    assert check_frame(data[:4])


def test_live_mode_ignores_version_and_trigger_shows_in_frames(sim) -> None:
    s, port = sim
    port.write(bytes([0xC3, 0x3D]))
    time.sleep(0.05)
    port.write(b"\x07\xbb")  # version is ignored while live; O2 on
    time.sleep(0.05)
    port.reset_input_buffer()
    data = read_for(port, 0.1)
    port.write(b"\x00")
    assert b"BITalino" not in data
    out = FrameDecoder(4).feed(data, 0.0)
    assert out.n > 20 and np.all(out.digital[-5:] == (0, 0, 0, 1))


def test_pwm_takes_the_next_byte_as_value(sim) -> None:
    s, port = sim
    port.write(bytes([0xA3, 0x07]))  # 0x07 is a value here, not the version command
    assert read_for(port, 0.15) == b""
    assert s.pwm_value == 7


def test_unplug_fault_replugs_a_new_pty_behind_the_same_link(tmp_path: Path) -> None:
    s = BitalinoSimulator(link=tmp_path / "bit").start()
    try:
        first = Path(s.path).resolve()
        s.faults.settings.unplug_s = 0.2
        port = serial.Serial(s.path, 115200, timeout=0.05)
        s.faults.arm("unplug")
        port.write(bytes([0xC3, 0x3D]))
        with pytest.raises(serial.SerialException):
            read_for(port, 0.5)
        port.close()
        time.sleep(0.3)
        assert Path(s.path).exists()
        port = serial.Serial(s.path, 115200, timeout=0.05)
        port.write(b"\x07")
        assert read_for(port, 0.2) == b"BITalino_v5.2\n"  # idle again after the replug
        port.close()
        assert s.unplugs == 1 and first.exists() is not None
    finally:
        s.close()


def test_cli_prints_the_path_first(tmp_path: Path) -> None:
    link = tmp_path / "cli"
    p = subprocess.Popen(
        [sys.executable, "-c", "import sys; from drivers.emg.bitalino.simulate_cli import main_simulate; "
         "sys.exit(main_simulate(sys.argv[1:]))", "--link", str(link), "--fault", "bad_crc", "--fault-every", "0.1", "--drift-ppm", "100"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == str(link)
        port = serial.Serial(str(link), 115200, timeout=0.05)
        port.write(bytes([0xC3, 0x3D]))
        data = read_for(port, 0.6)
        port.close()
        dec = FrameDecoder(4)
        out = dec.feed(data, 0.0)
        assert dec.crc_errors >= 2 and out.n > 400
    finally:
        p.terminate()
        _, err = p.communicate(timeout=5)
    assert p.returncode == 0 and "bad_crc" in err


def test_cli_rejects_unknown_fault() -> None:
    from drivers.emg.bitalino.simulate_cli import main_simulate

    with pytest.raises(SystemExit):
        main_simulate(["--fault", "meltdown"])
