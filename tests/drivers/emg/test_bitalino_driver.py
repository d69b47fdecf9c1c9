"""BitalinoEmgSource end to end through ptys: identity, data, every simulator fault, unplug/replug, bad devices."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from acquisition.source import Source, SourceError
from drivers.common.pty_port import PtyPort
from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig
from drivers.emg.bitalino.discovery import find_port
from drivers.emg.bitalino.driver import BitalinoEmgSource
from drivers.emg.bitalino.simulator import BitalinoSimulator
from drivers.emg.bitalino.transfer import codes_to_uv, offset_uv, scale_uv

A = {"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}
B = {"A1": "DA_R", "A2": "DA_L", "A3": "SCM_R", "A4": "SCM_L"}


def collect(src: BitalinoEmgSource, seconds: float) -> dict[str, list]:
    out: dict[str, list] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for c in src.read(0.05):
            out.setdefault(c.stream, []).append(c)
    return out


def cat(chunks: list, attr: str) -> np.ndarray:
    return np.concatenate([getattr(c, attr) for c in chunks])


def one_board(tmp_path: Path, **cfg_kw):
    sim = BitalinoSimulator(link=tmp_path / "a", seed=5).start()
    cfg = BitalinoConfig(simulated=True, boards=[BoardConfig(stream="emg_a", path=str(tmp_path / "a"), inputs=A)], **cfg_kw)
    return sim, BitalinoEmgSource(cfg)


def check_truth(sim: BitalinoSimulator, chunks: list) -> np.ndarray:
    """Every delivered sample is the code the simulator sent for that frame index."""
    seq = cat(chunks, "device_seq")
    data = cat(chunks, "data")
    k, _ = sim.emissions()
    sent = sim.sent()
    where = {int(v): i for i, v in enumerate(k)}
    idx = np.array([where[int(s)] for s in seq])
    assert np.array_equal(data, sent[idx])
    assert np.all(np.diff(seq) > 0)
    return seq


def test_two_boards_identity_specs_and_data(tmp_path: Path) -> None:
    sa = BitalinoSimulator(link=tmp_path / "a", seed=1, inputs=("TA_R", "TA_L", "MM_R", "MM_L")).start()
    sb = BitalinoSimulator(link=tmp_path / "b", seed=2, inputs=("DA_R", "DA_L", "SCM_R", "SCM_L")).start()
    cfg = BitalinoConfig(simulated=True, boards=[
        BoardConfig(stream="emg_a", path=str(tmp_path / "a"), inputs=A, serial="BIT-A"),
        BoardConfig(stream="emg_b", path=str(tmp_path / "b"), inputs=B),
    ])
    src = BitalinoEmgSource(cfg)
    assert isinstance(src, Source)
    try:
        src.open()
        got = collect(src, 1.0)
    finally:
        src.close()
        sa.close()
        sb.close()
    specs = {s.name: s for s in src.streams}
    assert specs["emg_a"].channels == ("TA_R", "TA_L", "MM_R", "MM_L")
    assert specs["emg_b"].channels == ("DA_R", "DA_L", "SCM_R", "SCM_L")
    a = specs["emg_a"]
    assert a.dtype == "uint16" and a.raw_units == "adc_code" and a.units == ("uV",) * 4 and a.nominal_rate == 1000
    assert a.scale == (scale_uv(),) * 4 and a.offset == (offset_uv(),) * 4 and "1009" in a.scale_source
    assert a.device.model == "BITalino (r)evolution" and a.device.firmware == "BITalino_v5.2"
    assert a.device.simulated and a.device.serial == "BIT-A" and a.device.transport.startswith("serial:")
    assert specs["emg_b"].device.serial == "b"
    for name, sim in (("emg_a", sa), ("emg_b", sb)):
        seq = check_truth(sim, got[name])
        assert seq[0] == 0 and np.array_equal(seq, np.arange(len(seq))) and len(seq) > 700
        t_lsl, t_read = cat(got[name], "t_lsl"), cat(got[name], "t_read")
        assert np.all(np.diff(t_lsl) > 0)
        assert np.median(t_read - t_lsl) < 0.02
    # physical values: the transfer function maps back near the generator's microvolts
    uv = a.to_physical(cat(got["emg_a"], "data"))
    assert np.allclose(uv, codes_to_uv(cat(got["emg_a"], "data")))
    c = src.counters()
    assert c["crc_errors"] == 0 and c["samples_lost"] == 0 and c["frames"] > 1400
    names = [e.name for e in src.drain_events()]
    assert names.count("device.identified") == 2


@pytest.mark.parametrize(
    "fault, counter, event",
    [
        ("bad_crc", "crc_errors", "frame.crc_failed"),
        ("truncated", "resyncs", "stream.resynced"),
        ("garbage", "resyncs", "stream.resynced"),
        ("seq_jump", "gaps", "samples.missing"),
    ],
)
def test_stream_faults_are_counted_events_never_crashes(tmp_path: Path, fault: str, counter: str, event: str) -> None:
    sim, src = one_board(tmp_path)
    try:
        src.open()
        got = collect(src, 0.3)
        sim.faults.arm(fault)
        more = collect(src, 0.25)
        sim.faults.arm(fault)  # a second one, apart from the first
        more2 = collect(src, 0.3)
        more = {"emg_a": more["emg_a"] + more2["emg_a"]}
        c = dict(src.counters())
        events = src.drain_events()
    finally:
        src.close()
        sim.close()
    assert sim.faults.fired(fault) == 2
    assert c[counter] == 2, c
    assert any(e.name == event and e.stream == "emg_a" and e.kind == "device" for e in events), [(e.name, e.stream, e.payload) for e in events]
    chunks = got["emg_a"] + more["emg_a"]
    seq = check_truth(sim, chunks)
    # nothing silently lost: every missing index is counted
    assert c["samples_lost"] == int(seq[-1]) + 1 - len(seq)
    if fault == "seq_jump":
        assert c["samples_lost"] >= 2 * sim.faults.settings.seq_jump


def test_stall_is_reported_and_nothing_lost(tmp_path: Path) -> None:
    sim, src = one_board(tmp_path)
    try:
        src.open()
        got = collect(src, 0.3)
        sim.faults.arm("stall")
        got2 = collect(src, 1.2)
        c = dict(src.counters())
        names = [e.name for e in src.drain_events()]
    finally:
        src.close()
        sim.close()
    seq = check_truth(sim, got["emg_a"] + got2["emg_a"])
    assert c["stalls"] == 1 and c["samples_lost"] == 0 and np.array_equal(seq, np.arange(len(seq)))
    assert "stream.stalled" in names and "stream.resumed" in names
    # the backlog arrives late, but the fitted times stay on the device's clock
    t = cat(got["emg_a"] + got2["emg_a"], "t_lsl")
    assert np.all(np.diff(t) > 0)


def test_unplug_reconnects_within_2s_and_records_the_gap(tmp_path: Path) -> None:
    sim, src = one_board(tmp_path)
    sim.faults.settings.unplug_s = 0.5
    try:
        src.open()
        before = collect(src, 0.4)
        t_unplug = time.monotonic()
        sim.faults.arm("unplug")
        after: list = []
        t_back = None
        while time.monotonic() - t_unplug < 3.0:
            for c in src.read(0.05):
                after.append(c)
                if t_back is None and c.device_seq[0] > before["emg_a"][-1].device_seq[-1] + 100:
                    t_back = time.monotonic()
        c = dict(src.counters())
        events = src.drain_events()
    finally:
        src.close()
        sim.close()
    names = [e.name for e in events]
    assert "link.disconnected" in names and "link.reconnected" in names and "board.restarted" in names
    assert t_back is not None and t_back - t_unplug < 0.5 + 2.0
    assert c["disconnects"] == 1 and c["reconnects"] == 1
    gap = [e for e in events if e.name == "samples.missing" and e.payload.get("estimated")]
    assert len(gap) == 1 and gap[0].payload["lost"] > 400  # about unplug_s x 1 kHz plus the restart
    seq = np.concatenate([cat(before["emg_a"], "device_seq"), cat(after, "device_seq")])
    assert np.all(np.diff(seq) > 0)
    # the estimated numbering after the restart stays close to the device's true sample clock (the estimate
    # inherits the fit's error before the unplug, which includes the simulator's own scheduling lag)
    k, _ = sim.emissions()
    first_new = int(cat(after, "device_seq")[cat(after, "device_seq") > seq[len(cat(before['emg_a'], 'device_seq')) - 1] + 100][0])
    true_first = int(k[np.searchsorted(k, sim.sessions[1][0])])
    assert abs(first_new - true_first) <= 50
    assert c["samples_lost"] >= gap[0].payload["lost"]


def test_silent_device_is_a_clear_error(tmp_path: Path) -> None:
    port = PtyPort(tmp_path / "dead")
    cfg = BitalinoConfig(reply_timeout_s=0.3, boards=[BoardConfig(stream="emg_a", path=port.path, inputs=A)])
    try:
        with pytest.raises(SourceError, match=r"expected a BITalino \(r\)evolution at .*dead.*no version reply"):
            BitalinoEmgSource(cfg).open()
    finally:
        port.close()


def test_old_firmware_is_refused_naming_what_was_found(tmp_path: Path) -> None:
    sim = BitalinoSimulator(link=tmp_path / "old", version="BITalino_v3.1").start()
    cfg = BitalinoConfig(boards=[BoardConfig(stream="emg_a", path=sim.path, inputs=A)])
    try:
        with pytest.raises(SourceError, match=r"firmware >= 5\.0.*found 'BITalino_v3\.1'"):
            BitalinoEmgSource(cfg).open()
    finally:
        sim.close()


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    cfg = BitalinoConfig(boards=[BoardConfig(stream="emg_a", path=str(tmp_path / "nothing"), inputs=A)])
    with pytest.raises(SourceError, match=r"emg_a.*expected a serial device at .*nothing.*found nothing"):
        BitalinoEmgSource(cfg).open()


def _port(dev: str, vid: int | None, pid: int | None, sn: str | None) -> SimpleNamespace:
    return SimpleNamespace(device=dev, vid=vid, pid=pid, serial_number=sn, description="USB serial")


def test_discovery_by_usb_ids() -> None:
    ports = [_port("/dev/ttyUSB0", 0x0403, 0x6015, "AAA"), _port("/dev/ttyUSB1", 0x0403, 0x6015, "BBB"),
             _port("/dev/ttyS0", None, None, None)]
    b = BoardConfig(stream="emg_a", usb_vid=0x0403, usb_pid=0x6015, usb_serial="BBB", inputs=A)
    assert find_port(b, comports=lambda: ports) == ("/dev/ttyUSB1", "BBB")
    both = BoardConfig(stream="emg_a", usb_vid=0x0403, usb_pid=0x6015, inputs=A)
    with pytest.raises(SourceError, match="matches 2 ports"):
        find_port(both, comports=lambda: ports)
    other = BoardConfig(stream="emg_a", usb_vid=0x10C4, usb_pid=0xEA60, inputs=A)
    with pytest.raises(SourceError, match=r"expected USB 10c4:ea60, found: /dev/ttyUSB0 \[0403:6015 serial=AAA"):
        find_port(other, comports=lambda: ports)


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="not one of"):
        BoardConfig(stream="emg_a", path="/x", inputs={"A1": "BICEPS"})
    with pytest.raises(ValidationError, match="A1..A6"):
        BoardConfig(stream="emg_a", path="/x", inputs={"A7": "TA_R"})
    with pytest.raises(ValidationError, match="give a path"):
        BoardConfig(stream="emg_a", inputs=A)
    with pytest.raises(ValidationError, match="mapped on two boards"):
        BitalinoConfig(boards=[BoardConfig(stream="emg_a", path="/x", inputs=A), BoardConfig(stream="emg_b", path="/y", inputs=A)])
    assert BoardConfig(stream="emg_a", path="/x", inputs={"A3": "MM_R", "A1": "TA_R"}).channel_indices == (0, 2)


class _BlockingBoard:
    """A board whose read blocks until released, whatever its timeout (a driver call stuck in the kernel)."""

    def __init__(self) -> None:
        import threading

        from drivers.emg.bitalino.codec import FrameDecoder

        self.release = threading.Event()
        self.reading = threading.Event()
        self.closed = 0
        self.path = "/dev/ttyBLOCKED"
        self.live = True
        self.decoder = FrameDecoder(4)
        self.link = SimpleNamespace(generation=0, connected=True, take_transitions=lambda: [])

    def poll(self, timeout: float) -> tuple[bytes, float]:
        self.reading.set()
        self.release.wait(30.0)
        return b"", time.monotonic()

    def close(self) -> None:
        self.closed += 1


def test_close_never_closes_a_port_under_a_live_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that does not end when asked keeps its port: reported, counted, closed by a later close()."""
    import queue as _queue

    from drivers.emg.bitalino.driver import _BoardRunner

    cfg = BitalinoConfig(simulated=True, boards=[BoardConfig(stream="emg_a", path="/dev/null", inputs=A)])
    src = BitalinoEmgSource(cfg)
    board = _BlockingBoard()
    spec = SimpleNamespace(name="emg_a")
    runner = _BoardRunner(cfg.boards[0], cfg, board, spec, src._queue, src._emit, time.monotonic)  # type: ignore[arg-type]
    monkeypatch.setattr(_BoardRunner, "STOP_JOIN_S", 0.2)
    src._runners.append(runner)
    runner.start()
    assert board.reading.wait(2.0)
    try:
        src.close()
        assert board.closed == 0 and runner.alive, "the port was closed under a reader still inside poll()"
        ev = [e for e in src.drain_events() if e.name == "reader.stop_timeout"]
        assert len(ev) == 1 and ev[0].stream == "emg_a" and ev[0].kind == "device"
        assert src.counters()["emg_a.stop_timeouts"] == 1 and src.counters()["stop_timeouts"] == 1
    finally:
        board.release.set()
    src.close()  # the reader ends now: joined, then its port closed, once
    assert board.closed == 1 and not runner.alive
    src.close()
    assert board.closed == 1
    assert isinstance(src._queue, _queue.Queue)
