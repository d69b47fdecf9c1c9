"""End-to-end: AuroraJawSource (real pyserial, real protocol) against the pty simulator."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from acquisition.source import Source, SourceError
from drivers.jaw.aurora.driver import TOOL_CHANNELS, AuroraJawSource
from drivers.jaw.aurora.simulator import AuroraSimulator

from .conftest import make_cfg


def run(src: AuroraJawSource, seconds: float) -> dict[str, list]:
    out: dict[str, list] = {"jaw_incisal": [], "jaw_tools": []}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for ch in src.read(0.1):
            out[ch.stream].append(ch)
    return out


def cat(chunks: list, attr: str) -> np.ndarray:
    return np.concatenate([getattr(c, attr) for c in chunks]) if chunks else np.empty(0)


def check_against_truth(sim: AuroraSimulator, got: dict[str, list], tol_mm: float = 0.1) -> int:
    xyz = np.concatenate([c.data for c in got["jaw_incisal"]]).astype(np.float64)
    frames = np.concatenate([c.data[:, TOOL_CHANNELS.index("frame")] for c in got["jaw_tools"]])
    truth = sim.truth_arrays()
    idx = np.searchsorted(truth["frames"], frames)
    ok = np.isfinite(xyz).all(axis=1)
    assert np.array_equal(truth["frames"][idx], frames)
    err = np.abs(xyz[ok] - truth["xyz"][idx][ok])
    assert err.max() < tol_mm, f"max error {err.max():.4f} mm"
    return int(ok.sum())


def test_tracks_generator_within_quantisation(sim: AuroraSimulator) -> None:
    sim.set_step("jaw_max_opening", 4.0)
    src = AuroraJawSource(make_cfg(sim, expected_model="Aurora", expected_serial=sim.serial))
    assert isinstance(src, Source)
    src.open()
    try:
        ident = src.streams[0].device
        assert (ident.model, ident.serial, ident.simulated) == ("NDI Aurora", sim.serial, True)
        assert ident.firmware.startswith(sim.firmware)
        got = run(src, 3.0)
    finally:
        src.close()
    n = check_against_truth(sim, got)
    assert 100 <= n <= 125  # ~40 Hz for 3 s, nothing lost
    seq = cat(got["jaw_tools"], "device_seq")
    assert np.all(np.diff(seq) == 1)
    c = src.counters()
    assert c["gaps"] == 0 and c["samples_lost"] == 0 and c["crc_errors"] == 0
    xyz = np.concatenate([ch.data for ch in got["jaw_incisal"]])
    assert xyz[:, 1].min() < -10  # the mouth opened (y negative)
    names = [e.name for e in src.drain_events()]
    assert "device.opened" in names and "device.closed" in names
    assert src.streams[1].to_physical(got["jaw_tools"][0].data)[0, TOOL_CHANNELS.index("head_tz")] < -150


@pytest.mark.parametrize("fault", ["bad_crc", "truncated", "garbage", "seq_jump", "stall"])
def test_faults_are_counted_not_fatal(sim: AuroraSimulator, fault: str) -> None:
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    try:
        run(src, 0.5)
        sim.faults.arm(fault)  # type: ignore[arg-type]
        got = run(src, 1.2)
        events = [e.name for e in src.drain_events()]
    finally:
        src.close()
    assert sim.faults.fired(fault) == 1
    c = src.counters()
    check_against_truth(sim, got)
    expect = {
        "bad_crc": ("crc_errors", "frame.crc_failed"),
        "truncated": ("crc_errors", "frame.crc_failed"),
        "garbage": ("resyncs", "stream.resynced"),
        "seq_jump": ("gaps", "samples.missing"),
        "stall": ("reply_timeouts", "reply.timeout"),
    }[fault]
    assert c[expect[0]] >= 1, c
    assert expect[1] in events
    if fault in ("seq_jump", "stall"):
        assert c["samples_lost"] >= 4
    else:  # a broken reply costs one poll, not a frame: polling runs at twice the device rate
        assert c["samples_lost"] == 0, c
    assert len(cat(got["jaw_tools"], "device_seq")) > 25  # tracking went on


def test_unplug_reconnects_within_2s_and_records_gap(sim: AuroraSimulator) -> None:
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    try:
        run(src, 0.5)
        sim.faults.arm("unplug")
        t_unplug = time.monotonic()
        got: dict[str, list] = {"jaw_incisal": [], "jaw_tools": []}
        t_back = None
        while time.monotonic() - t_unplug < 4.0 and (t_back is None or time.monotonic() - t_back < 0.5):
            for ch in src.read(0.05):
                got[ch.stream].append(ch)
            if src.counters()["reconnects"] and t_back is None:
                t_back = time.monotonic()
        events = src.drain_events()
    finally:
        src.close()
    assert t_back is not None and t_back - t_unplug < 0.4 + 2.0  # unplug lasts 0.4 s; back within 2 s after
    names = [e.name for e in events]
    for want in ("link.disconnected", "link.reconnected", "device.reinitialised", "samples.missing"):
        assert want in names, names
    gap = next(e for e in events if e.name == "samples.missing")
    assert gap.payload["reason"] == "reconnect" and gap.payload["lost"] >= 10 and gap.payload["estimated"] is True
    seq = cat(got["jaw_tools"], "device_seq")
    assert np.all(np.diff(seq) > 0)
    check_against_truth(sim, got)


def test_missing_tool_gives_nan_and_state(sim: AuroraSimulator) -> None:
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    try:
        run(src, 0.3)
        sim.set_missing("jaw", True)
        time.sleep(0.1)
        got = run(src, 0.4)
    finally:
        src.close()
    xyz = np.concatenate([c.data for c in got["jaw_incisal"]])
    tools = np.concatenate([c.data for c in got["jaw_tools"]])
    assert np.isnan(xyz[-5:]).all()
    assert (tools[-5:, TOOL_CHANNELS.index("jaw_state")] == 1).all()
    assert src.counters()["missing_jaw"] >= 5


def test_drift_timestamps_follow_device_clock(sim: AuroraSimulator) -> None:
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    try:
        got = run(src, 3.0)
    finally:
        src.close()
    t_lsl = cat(got["jaw_tools"], "t_lsl")
    t_read = cat(got["jaw_tools"], "t_read")
    frames = np.concatenate([c.data[:, TOOL_CHANNELS.index("frame")] for c in got["jaw_tools"]])
    truth = sim.truth_arrays()
    t_true = truth["times"][np.searchsorted(truth["frames"], frames)]
    assert np.all(t_read >= t_true)
    late = slice(len(t_lsl) // 2, None)  # once the fit has data
    assert np.abs(t_lsl[late] - t_true[late]).max() < 0.015


def test_wrong_or_missing_device_is_a_clear_error(sim: AuroraSimulator, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"expected Polaris serial any, found Aurora serial P6-00417"):
        AuroraJawSource(make_cfg(sim, expected_model="Polaris")).open()
    with pytest.raises(SourceError, match="does not exist"):
        AuroraJawSource(make_cfg(sim, path=str(tmp_path / "nope"))).open()
    with pytest.raises(SourceError, match=r"tool serial\(s\) \['XXXX'\] not plugged"):
        AuroraJawSource(make_cfg(sim, head_tool_serial="XXXX", jaw_tool_serial="3C5A11B1")).open()
    silent = tmp_path / "silent"
    import os

    master, slave = os.openpty()
    silent.symlink_to(os.ttyname(slave))
    try:
        with pytest.raises(SourceError, match="no NDI tracker answered"):
            AuroraJawSource(make_cfg(sim, path=str(silent), reset_timeout_s=0.2)).open()
    finally:
        os.close(master)
        os.close(slave)
