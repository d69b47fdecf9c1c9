import time

import numpy as np
import pytest

from acquisition.source import Source, SourceError
from drivers.common.faults import FaultSettings, FaultSwitchboard
from drivers.common.pty_port import PtyPort
from drivers.stabilometry.cell_board.driver import CellBoardSource, parse_calibration
from drivers.stabilometry.cell_board.simulator import FACTORY_KG_PER_COUNT, FACTORY_OFFSETS, CellBoardSimulator
from drivers.stabilometry.config import CellBoardConfig

from .conftest import cat, names, pump


@pytest.fixture
def board(tmp_link):
    made = []

    def make(**kw):
        faults = FaultSwitchboard(FaultSettings(**kw.pop("settings", {})))
        sim = CellBoardSimulator(link=tmp_link, faults=faults, keep_truth=True, **kw).start()
        src = CellBoardSource(CellBoardConfig(port=sim.path, stall_s=0.25, simulated=True))
        made.append((sim, src))
        src.open()
        return sim, src

    yield make
    for sim, src in made:
        src.close()
        sim.stop()


def test_open_identity_streams_and_cop_vs_truth(board):
    sim, src = board()
    assert isinstance(src, Source)
    raw_spec, cop_spec = src.streams
    assert raw_spec.device.serial == "SIM-CB4-000123" and raw_spec.device.simulated
    assert raw_spec.scale == pytest.approx(FACTORY_KG_PER_COUNT)  # the board's CAL? reply is in force
    assert raw_spec.dtype == "int32" and raw_spec.nominal_rate == 100 and cop_spec.units == ("mm", "mm")
    out, events = pump(src, 2.0)
    seq = cat(out["cop"], "device_seq")
    assert seq[0] == 0 and np.all(np.diff(seq) == 1)  # nothing lost, from the first sample
    kg = raw_spec.to_physical(cat(out["plate_raw"]))
    assert kg.sum(axis=1).mean() == pytest.approx(70.0, abs=0.1)
    truth = sim.truth()
    err = cat(out["cop"]) - truth[seq]
    assert np.sqrt(np.mean(err**2)) < 0.5  # brief: COP error < 0.5 mm RMS
    assert np.sqrt(np.mean(err**2)) < 0.05  # in fact the quantisation floor
    t = cat(out["cop"], "t_lsl")
    assert np.all(np.diff(t) > 0) and abs(np.median(np.diff(t)) - 0.01) < 1e-4
    assert src.counters()["crc_errors"] == 0 and "device.opened" in names(events)


def test_wire_faults_are_counted_events_and_samples_go_on(board):
    sim, src = board(settings={"seq_jump": 5, "garbage_bytes": 9})
    before, _ = pump(src, 0.3)
    for f in ("bad_crc", "truncated", "garbage", "seq_jump"):
        sim.faults.arm(f)
    out, events = pump(src, 1.2)
    c = src.counters()
    assert c["crc_errors"] >= 2  # the flipped CRC and the cut frame
    assert c["bytes_skipped"] > 0
    # lost: bad-CRC frame 1 + truncated frame 1 + device-side jump 5 (+ a frame swallowed by garbage, rarely)
    assert 7 <= c["samples_lost"] <= 9
    n = names(events)
    assert {"frame.crc_failed", "samples.missing", "stream.resynced"} <= set(n)
    seq = np.concatenate([cat(before["cop"], "device_seq"), cat(out["cop"], "device_seq")])
    assert seq[0] == 0 and np.all(np.diff(seq) >= 1)
    assert int((np.diff(seq) - 1).sum()) == c["samples_lost"]  # every gap is in the sequence numbers
    err = np.concatenate([cat(before["cop"]), cat(out["cop"])]) - sim.truth()[seq]
    assert np.sqrt(np.mean(err**2)) < 0.5  # the samples we kept are the right ones


def test_stall_is_an_event_and_backlog_arrives(board):
    sim, src = board(settings={"stall_s": 0.6})
    pump(src, 0.3)
    sim.faults.arm("stall")
    out, events = pump(src, 1.5)
    assert src.counters()["stalls"] == 1
    assert "stream.stalled" in names(events) and "stream.resumed" in names(events)
    seq = cat(out["cop"], "device_seq")
    assert np.all(np.diff(seq) == 1)  # the backlog came: nothing lost


def test_unplug_replug_reconnects_within_2s_and_records_gap(board):
    sim, src = board(settings={"unplug_s": 0.4})
    before, _ = pump(src, 0.4)
    last_seq = int(cat(before["cop"], "device_seq")[-1])
    sim.faults.arm("unplug")
    t0 = time.monotonic()
    out, events = pump(src, 3.0, until=lambda o: src.counters()["reconnects"] >= 1 and len(o["cop"]) > 0
                       and cat(o["cop"], "t_lsl")[-1] > t0 + 0.5)
    n = names(events)
    assert "link.disconnected" in n and "link.reconnected" in n and "samples.missing" in n
    assert time.monotonic() - t0 < 2.0 + 0.5  # back within 2 s of the replug (0.4 s unplug)
    gap = next(e for e in events if e.name == "samples.missing" and e.payload["estimated"])
    assert gap.payload["lost"] >= 20  # ~0.4 s at 100 Hz is visible, not hidden
    seq = cat(out["cop"], "device_seq")
    assert np.all(np.diff(seq) >= 1) and seq[0] - last_seq >= 20
    assert seq[0] == gap.payload["first_missing"] + gap.payload["lost"] == last_seq + 1 + gap.payload["lost"]
    c = src.counters()
    assert c["disconnects"] == 1 and c["reconnects"] == 1


def _drift_run(board, seconds: float):
    sim, src = board(settings={"drift_ppm": 100.0})
    out, events = pump(src, seconds)
    seq = cat(out["cop"], "device_seq")
    t = cat(out["cop"], "t_lsl")
    true_period = 1.0 / (100.0 * (1 + 100e-6))
    return src, seq, t, sim.emission_times(seq), true_period, events


def test_clock_drift_100ppm_times_follow_the_device_clock(board):
    src, seq, t, t_true, true_period, events = _drift_run(board, 3.0)
    assert np.all(np.diff(seq) == 1) and not [e for e in events if e.name != "device.opened"]
    late = t[-100:] - t_true[-100:]  # fitted time minus true emission time, once the fit has 2 s of data
    assert np.all(late > -0.002) and np.all(late < 0.010)  # never before emission, at most a read delay after
    assert abs(src.clock_period / true_period - 1) < 500e-6  # within the fit's accepted range


@pytest.mark.soak
def test_clock_drift_100ppm_rate_estimated_within_20ppm(board):
    src, seq, t, t_true, true_period, _ = _drift_run(board, 40.0)
    assert abs(src.clock_period / true_period - 1) < 20e-6, src.clock_period
    assert np.abs(t[-1000:] - t_true[-1000:]).max() < 0.003


def test_step_off_and_on_are_events_not_errors(board):
    sim, src = board()
    pump(src, 0.3)
    sim.set_step("stab_off", 10.0)
    out, events = pump(src, 1.5, until=lambda o: src.counters()["stepped_off"] >= 1)
    sim.set_step("stab_eyes_open", 10.0)
    out2, events2 = pump(src, 1.8, until=lambda o: src.counters()["stepped_on"] >= 1)
    ev = [e for e in events + events2 if e.name.startswith("subject.")]
    assert [e.name for e in ev] == ["subject.stepped_off", "subject.stepped_on"]
    assert ev[0].kind == "qc" and ev[0].payload["load_kg"] < 10.0
    cop = np.concatenate([cat(out["cop"]), cat(out2["cop"])])
    assert np.isnan(cop).any() and np.isfinite(cop).any()  # COP undefined while off, never a crash


def test_missing_port_and_silent_port_give_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="cannot be opened"):
        CellBoardSource(CellBoardConfig(port=str(tmp_path / "nothing"))).open()
    with PtyPort(tmp_path / "mute") as mute:  # something that never answers
        src = CellBoardSource(CellBoardConfig(port=mute.path, reply_timeout_s=0.3))
        with pytest.raises(SourceError, match="no reply to 'STOP'"):
            src.open()
        src.close()


def test_calibration_reply_parsing():
    cal = parse_calibration("CAL 1,-2,3,4;1e-5,2e-5,3e-5,4e-5")
    assert cal.offset_counts == (1, -2, 3, 4) and cal.kg_per_count[3] == pytest.approx(4e-5)
    for bad in ("CAL 1,2,3;1,1,1", "CAL x", "ID foo", "CAL 1,2,3,4;1,1,1,-1"):
        with pytest.raises(ValueError):
            parse_calibration(bad)
    assert FACTORY_OFFSETS[0] == 8123


@pytest.mark.parametrize("simulated", [False, True])
def test_simulated_comes_from_the_configuration_not_the_serial(tmp_link, simulated: bool) -> None:
    """The simulator's serial starts with SIM- and it sits on a /dev/pts pty: neither decides `simulated`."""
    sim = CellBoardSimulator(link=tmp_link).start()
    src = CellBoardSource(CellBoardConfig(port=sim.path, simulated=simulated))
    try:
        src.open()
        assert src.streams[0].device.serial.startswith("SIM-") and src.streams[0].device.simulated is simulated
    finally:
        src.close()
        sim.stop()


def test_drift_fault_changes_the_board_clock_and_the_driver_follows(board) -> None:
    """`drift` is documented for the cell board: it fires, the sample clock runs fast, no sample is lost."""
    sim, src = board(settings={"drift_ppm": 1500.0}, drift_ppm=0.0)  # on time until the fault; then 1500 ppm fast
    assert sim.device_clock.rate_eff == 100.0
    sim.faults.arm("drift")
    out, _ = pump(src, 3.0)
    assert sim.faults.fired("drift") == 1 and sim.drift_ppm == 1500.0
    assert sim.device_clock.rate_eff == pytest.approx(100.15)
    seq = cat(out["plate_raw"], "device_seq")
    assert np.all(np.diff(seq) == 1) and src.counters()["samples_lost"] == 0
    # the counter clock fit found the fast crystal (CounterClock bounds its estimate to +-2000 ppm)
    assert abs(src.clock_period * 100.15 - 1.0) < 7e-4, src.clock_period
