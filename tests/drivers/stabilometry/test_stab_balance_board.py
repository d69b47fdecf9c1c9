import os
import time

import numpy as np
import pytest

from acquisition.source import Source, SourceError
from drivers.common.faults import FaultSettings, FaultSwitchboard
from drivers.stabilometry.balance_board import BalanceBoardSource
from drivers.stabilometry.balance_board_sim import BalanceBoardSimulator, defuzz, uinput_usable
from drivers.stabilometry.config import BalanceBoardConfig

from .conftest import cat, names, pump


@pytest.fixture
def wbb():
    made = []

    def make(transport="fifo", **kw):
        faults = FaultSwitchboard(FaultSettings(**kw.pop("settings", {})))
        sim = BalanceBoardSimulator(transport=transport, faults=faults, keep_truth=True, **kw).start()
        src = BalanceBoardSource(BalanceBoardConfig(device=sim.path, simulated=True))
        made.append((sim, src))
        src.open()
        return sim, src

    yield make
    for sim, src in made:
        src.close()
        sim.stop()


def _cop_error(sim, out):
    t = cat(out["cop"], "t_lsl")
    cop = cat(out["cop"])
    tt, tc, _ = sim.truth()
    ok = (t > tt[0]) & (t < tt[-1]) & np.isfinite(cop).all(axis=1)
    truth = np.column_stack([np.interp(t[ok], tt, tc[:, 0]), np.interp(t[ok], tt, tc[:, 1])])
    return np.sqrt(np.mean((cop[ok] - truth) ** 2)), ok.sum()


def test_fifo_records_cop_vs_truth_and_streams(wbb):
    sim, src = wbb()
    assert isinstance(src, Source)
    raw, plate, cop = src.streams
    assert (raw.name, raw.nominal_rate, raw.dtype, raw.scale) == ("plate_raw", 0.0, "int32", (0.01,) * 4)
    assert plate.nominal_rate == 100.0 and cop.units == ("mm", "mm") and raw.device.simulated
    out, events = pump(src, 2.0)
    # irregular raw reports: kernel stamps mapped to LSL time (identity: CLOCK_MONOTONIC), read time kept
    traw, tread = cat(out["plate_raw"], "t_lsl"), cat(out["plate_raw"], "t_read")
    assert len(traw) > 100 and np.std(np.diff(traw)) > 0.001
    assert np.all(tread >= traw) and np.median(tread - traw) < 0.02
    assert any(e.name == "clock.mapped" and e.payload["mode"] == "identity" for e in events)
    # uniform resampled streams on the absolute grid
    k = cat(out["cop"], "device_seq")
    assert np.all(np.diff(k) == 1)
    np.testing.assert_allclose(cat(out["cop"], "t_lsl"), k / 100.0)
    kg = cat(out["plate"])
    assert kg.sum(axis=1).mean() == pytest.approx(70.0, abs=0.2)
    rms, n = _cop_error(sim, out)
    assert n > 120 and rms < 0.5, rms  # brief: COP error < 0.5 mm RMS against the generator's truth
    assert src.counters()["malformed_frames"] == 0


def test_record_faults_counted_and_stream_recovers(wbb):
    sim, src = wbb(settings={"seq_jump": 3})
    pump(src, 0.3)
    for f in ("garbage", "truncated", "seq_jump"):
        sim.faults.arm(f)
    out, events = pump(src, 1.5)
    c = src.counters()
    assert c["malformed_frames"] >= 1 and c["bytes_skipped"] > 0  # garbage / cut record: resync, counted
    assert c["syn_dropped"] == 1  # SYN_DROPPED: counted, state forgotten and rebuilt
    assert {"frame.malformed", "events.dropped"} <= set(names(events))
    rms, n = _cop_error(sim, out)
    assert n > 100 and rms < 0.5


def test_unplug_is_reported_and_reconnects(wbb):
    sim, src = wbb(settings={"unplug_s": 0.4})
    pump(src, 0.3)
    sim.faults.arm("unplug")
    t0 = time.monotonic()
    out, events = pump(src, 3.0, until=lambda o: src.counters()["reconnects"] >= 1)
    assert time.monotonic() - t0 < 2.0
    n = names(events)
    assert "link.disconnected" in n and "link.reconnected" in n
    back = next(e for e in events if e.name == "link.reconnected")
    assert back.payload["gap_s"] >= 0.3
    out2, _ = pump(src, 0.8)
    assert len(out2["plate_raw"]) > 0  # data flows again after the replug
    k = np.concatenate([cat(out["cop"], "device_seq"), cat(out2["cop"], "device_seq")])
    assert np.diff(k).max() > 20  # the missing 0.4 s is a hole in the grid index, not invented samples


def test_step_off_event_held_values_keep_the_grid(wbb):
    sim, src = wbb()
    pump(src, 0.3)
    sim.set_step("stab_off", 10.0)
    out, events = pump(src, 2.5, until=lambda o: src.counters()["held_pushes"] >= 3)
    assert "subject.stepped_off" in names(events)
    assert src.counters()["held_pushes"] >= 3  # evdev goes silent on an empty board: held, not a stall
    cop = cat(out["cop"])
    assert np.isnan(cop[-5:]).all()  # no COP without a subject
    k = cat(out["cop"], "device_seq")
    assert np.all(np.diff(k) == 1)
    sim.set_step("stab_eyes_open", 10.0)
    _, ev2 = pump(src, 2.0, until=lambda o: src.counters()["stepped_on"] >= 1)
    assert "subject.stepped_on" in names(ev2)


def test_open_errors_are_clear(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        BalanceBoardSource(BalanceBoardConfig(device=str(tmp_path / "none"))).open()
    if not os.path.isdir("/dev/input"):
        with pytest.raises(SourceError, match="no Wii Balance Board"):
            BalanceBoardSource(BalanceBoardConfig(device="auto")).open()


def test_defuzz_matches_input_core():
    assert defuzz(100, 100) == 100
    assert defuzz(101, 100) == 100  # (3*100 + 101) // 4
    assert defuzz(103, 100) == 101  # (100 + 103) // 2
    assert defuzz(104, 100) == 104


@pytest.mark.skipif(not uinput_usable(), reason="/dev/uinput not usable on this machine")
def test_uinput_device_found_by_name_and_read_through_evdev(wbb):  # pragma: no cover - needs /dev/uinput
    sim, _ = wbb(transport="uinput")
    src = BalanceBoardSource(BalanceBoardConfig(device="auto"))
    src.open()
    try:
        assert src.streams[0].device.transport.startswith("evdev:input/event")  # the node, not its path
        out, _ = pump(src, 2.0)
        rms, n = _cop_error(sim, out)
        assert n > 100 and rms < 0.5
    finally:
        src.close()


def test_fifo_without_writer_is_reported_silent_not_crashed(tmp_path):
    fifo = tmp_path / "wbb.events"
    os.mkfifo(fifo)
    src = BalanceBoardSource(BalanceBoardConfig(device=str(fifo)))
    src.open()
    try:
        out, events = pump(src, 2.6, until=lambda o: src.counters()["stalls"] >= 1)
        assert "stream.stalled" in names(events) and not out.get("plate_raw")
    finally:
        src.close()


def test_the_simulator_refuses_the_faults_it_does_not_fire(tmp_path):
    """bad_crc (evdev records carry no checksum) and drift (the kernel stamps the reports) never fire here:
    arming them is refused, never accepted and silently ignored."""
    from drivers.common.faults import UnsupportedFault

    faults = FaultSwitchboard()
    sim = BalanceBoardSimulator(transport="fifo", fifo_path=str(tmp_path / "wbb.events"), faults=faults)
    try:
        assert sim.FAULTS == faults.supported == ("truncated", "garbage", "seq_jump", "stall", "unplug")
        for bad in ("bad_crc", "drift"):
            with pytest.raises(UnsupportedFault, match=f"balance-board .fifo. simulator does not implement fault '{bad}'"):
                faults.arm(bad)
        faults.arm("garbage")
    finally:
        sim.stop()
    armed_first = FaultSwitchboard()
    armed_first.arm("drift")
    with pytest.raises(UnsupportedFault, match="'drift'"):
        BalanceBoardSimulator(transport="fifo", fifo_path=str(tmp_path / "wbb2.events"), faults=armed_first)
    # on uinput the kernel writes the records: no garbage, cut record or SYN_DROPPED can be forced
    on_uinput = FaultSwitchboard()
    on_uinput.arm("garbage")
    with pytest.raises(UnsupportedFault, match="balance-board .uinput.*'garbage'"):
        BalanceBoardSimulator(transport="uinput", faults=on_uinput)  # refused before /dev/uinput is touched


def test_simulate_balance_board_offers_no_drift(capsys):
    from drivers.common import sim_cli
    from drivers.stabilometry.simulate_cli import COMMANDS

    with pytest.raises(SystemExit) as exc:
        sim_cli.standalone(COMMANDS, ["balance-board", "--drift-ppm", "100"])
    assert exc.value.code == 2 and "--drift-ppm" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        sim_cli.standalone(COMMANDS, ["balance-board", "--fault", "drift"])
    assert exc.value.code == 2 and "unknown fault 'drift'" in capsys.readouterr().err
