"""Long fault-injection run (deselected by default: `pytest -m soak tests/drivers/jaw`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from drivers.common.faults import FaultSettings, FaultSwitchboard
from drivers.jaw.aurora.driver import TOOL_CHANNELS, AuroraJawSource
from drivers.jaw.aurora.simulator import AuroraSimulator

from .conftest import make_cfg


@pytest.mark.soak
def test_soak_all_faults(tmp_path: Path) -> None:
    faults = FaultSwitchboard(FaultSettings(drift_ppm=100.0, stall_s=0.3, unplug_s=0.5))
    sim = AuroraSimulator(link=tmp_path / "aurora", seed=9, faults=faults, fault_interval_s=2.0).start()
    for name in ("bad_crc", "truncated", "garbage", "seq_jump", "stall", "unplug"):
        faults.arm(name, 3)  # type: ignore[arg-type]
    sim.set_step("jaw_max_opening", 120.0)
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    tools, xyz = [], []
    try:
        end = time.monotonic() + 60.0
        while time.monotonic() < end:
            for ch in src.read(0.1):
                (tools if ch.stream == "jaw_tools" else xyz).append(ch.data)
            src.drain_events()
    finally:
        src.close()
        sim.close()
    assert faults.pending() == 0
    c = src.counters()
    assert c["reconnects"] == 3 and c["crc_errors"] >= 6 and c["resyncs"] >= 1 and c["gaps"] >= 6
    frames = np.concatenate(tools)[:, TOOL_CHANNELS.index("frame")]
    truth = sim.truth_arrays()
    idx = np.searchsorted(truth["frames"], frames)
    assert np.array_equal(truth["frames"][idx], frames)
    got = np.concatenate(xyz).astype(np.float64)
    ok = np.isfinite(got).all(axis=1)
    assert np.abs(got[ok] - truth["xyz"][idx][ok]).max() < 0.1
    assert len(frames) > 0.8 * 60 * 40
