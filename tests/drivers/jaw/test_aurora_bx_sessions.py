"""Issue 8 §5: the Aurora simulator answers a second client session, and speaks BX; the driver polls with BX."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
import serial

from drivers.jaw.aurora.bx import parse_bx
from drivers.jaw.aurora.codec import parse_tx
from drivers.jaw.aurora.reply_reader import ReplyReader
from drivers.jaw.aurora.crc import crc16
from drivers.jaw.aurora.driver import AuroraJawSource
from drivers.jaw.aurora.simulator import AuroraSimulator
from tests.drivers.jaw.conftest import make_cfg
from tests.drivers.jaw.test_aurora_driver import cat, check_against_truth, run


def _ask(port: serial.Serial, reader: ReplyReader, cmd: bytes, timeout: float = 0.5) -> str | bytes | None:
    port.write(cmd)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = reader.feed(port.read(512))
        if out:
            return out[0]
    return None


def _session_to_tracking(path: str) -> tuple[serial.Serial, ReplyReader]:
    """What an off-the-shelf Combined API client does: INIT at 9600 (no break first), COMM, tools, TSTART."""
    port = serial.Serial(path, 9600, timeout=0.05)
    r = ReplyReader()
    assert _ask(port, r, b"INIT:E3A5\r") == "OKAY"
    assert _ask(port, r, b"COMM 50000\r") == "OKAY"
    port.baudrate = 115200
    for h in ("0A", "0B"):
        assert _ask(port, r, f"PINIT {h}\r".encode()) == "OKAY"
        assert _ask(port, r, f"PENA {h}D\r".encode()) == "OKAY"
    assert _ask(port, r, b"TSTART\r") == "OKAY"
    return port, r


def test_a_second_client_session_after_a_clean_end_is_answered(sim: AuroraSimulator) -> None:
    port, r = _session_to_tracking(sim.path)
    time.sleep(0.05)
    assert parse_tx(_ask(port, r, b"TX 0001\r")).frame is not None  # type: ignore[arg-type]
    assert _ask(port, r, b"TSTOP\r") == "OKAY"
    port.close()
    t0 = time.monotonic()
    port2, r2 = _session_to_tracking(sim.path)  # at 9600 again, as a new client starts
    try:
        assert time.monotonic() - t0 < 2.0
        assert sim.counters["sessions_ended"] == 1
    finally:
        port2.close()


def test_bx_reply_layout_on_the_wire(sim: AuroraSimulator) -> None:
    port, r = _session_to_tracking(sim.path)
    try:
        time.sleep(0.05)
        port.reset_input_buffer()
        port.write(b"BX 0001\r")
        raw = b""
        end = time.monotonic() + 1.0
        while time.monotonic() < end and (len(raw) < 6 or len(raw) < 8 + struct.unpack_from("<H", raw, 2)[0]):
            raw += port.read(256)
        assert raw[:2] == b"\xc4\xa5"
        start, length, hcrc = struct.unpack_from("<HHH", raw, 0)
        assert start == 0xA5C4 and hcrc == crc16(raw[:4]) and len(raw) == 6 + length + 2
        body = raw[6 : 6 + length]
        assert struct.unpack_from("<H", raw, 6 + length)[0] == crc16(body)
        assert body[0] == 2 and length == 1 + 2 * (2 + 32 + 8) + 2  # two valid handles, floats, status, frame
        rep = parse_bx(body)
        assert [t.handle for t in rep.tools] == [0x0A, 0x0B] and [t.state for t in rep.tools] == ["ok", "ok"]
        q = np.array(struct.unpack_from("<4f", body, 3))
        assert abs(np.linalg.norm(q) - 1.0) < 1e-5  # a unit quaternion in float32
        tx = parse_tx(_ask(port, r, b"TX 0001\r"))  # type: ignore[arg-type]
        assert tx.frame is not None and rep.frame is not None and tx.frame >= rep.frame
    finally:
        port.close()


@pytest.mark.parametrize("poll", ["TX", "BX"])
def test_driver_polls_with_tx_or_bx(sim: AuroraSimulator, poll: str) -> None:
    sim.set_step("jaw_max_opening", 4.0)
    src = AuroraJawSource(make_cfg(sim, poll_command=poll))
    src.open()
    try:
        got = run(src, 2.0)
    finally:
        src.close()
    assert sim.counters["bx" if poll == "BX" else "tx"] > 0 and sim.counters["tx" if poll == "BX" else "bx"] == 0
    n = check_against_truth(sim, got)  # within the TX resolution either way
    assert 65 <= n <= 85
    d = np.diff(cat(got["jaw_tools"], "device_seq"))
    c = src.counters()
    # a poll made late by a loaded machine may lose a frame: then it is counted, exactly
    assert np.all(d >= 1) and c["gaps"] == int((d > 1).sum()) and c["samples_lost"] == int((d - 1).sum())
    assert c["crc_errors"] == c["decode_errors"] == 0


@pytest.mark.parametrize("fault", ["bad_crc", "truncated", "garbage"])
def test_bx_faults_are_counted(sim: AuroraSimulator, fault: str) -> None:
    src = AuroraJawSource(make_cfg(sim, poll_command="BX"))
    src.open()
    try:
        run(src, 0.4)
        sim.faults.arm(fault)  # type: ignore[arg-type]
        got = run(src, 1.0)
        names = [e.name for e in src.drain_events()]
    finally:
        src.close()
    c = src.counters()
    assert sim.faults.fired(fault) == 1
    want = {"bad_crc": ("crc_errors", "frame.crc_failed"), "truncated": ("crc_errors", "frame.crc_failed"),
            "garbage": ("resyncs", "stream.resynced")}[fault]
    assert c[want[0]] == 1 and want[1] in names, (c, names)
    # a cut binary reply shows only when the next bytes come: it costs one reply timeout (0.1 s, 4 frames at 40 Hz)
    assert c["samples_lost"] <= (5 if fault == "truncated" else 0), c
    assert c["bytes_in"] == c["bytes_decoded"] + c["bytes_skipped"] + c["bytes_pending"]
    check_against_truth(sim, got)
