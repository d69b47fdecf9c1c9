"""BitalinoEmgSource counters: every byte the board sent is in a stored frame, a bad frame, the skipped count, or
(cut by the close) `bytes_pending_at_close`; a spliced frame is reported as an event and a counter."""

from __future__ import annotations

import time
from pathlib import Path

from drivers.emg.bitalino.codec import frame_length
from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig
from drivers.emg.bitalino.driver import BitalinoEmgSource
from drivers.emg.bitalino.simulator import BitalinoSimulator

A = {"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}


def test_driver_counters_account_for_every_byte(tmp_path: Path) -> None:
    sim = BitalinoSimulator(link=tmp_path / "a", seed=3).start()
    cfg = BitalinoConfig(simulated=True, boards=[BoardConfig(stream="emg_a", path=str(tmp_path / "a"), inputs=A)])
    src = BitalinoEmgSource(cfg)
    frames = 0
    try:
        src.open()
        t0 = time.monotonic()
        plan = [(0.3, "garbage"), (0.45, "truncated"), (0.6, "bad_crc"), (0.75, "seq_jump")]  # one at a time
        while time.monotonic() < t0 + 1.2:
            frames += sum(c.data.shape[0] for c in src.read(0.05))
            if plan and time.monotonic() > t0 + plan[0][0]:
                sim.faults.arm(plan.pop(0)[1])  # type: ignore[arg-type]
    finally:
        src.close()
        sim.close()
    c = src.counters()
    L = frame_length(4)
    assert c["emg_a.frames"] == c["frames"] >= frames > 500  # (frames still queued at close are counted, not read)
    assert c["emg_a.bytes_in"] > 0 and c["bytes_skipped"] > 0 and c["crc_errors"] >= 1
    assert c["emg_a.bytes_in"] == (L * c["emg_a.frames"] + c["emg_a.bytes_bad_frames"] + c["emg_a.bytes_skipped"]
                                   + c["emg_a.bytes_pending_at_close"])
    # the device jumped: the first frame after the jump was given up, and said so
    assert c["emg_a.frames_dropped_after_gap"] >= 1 and c["gaps"] >= 1
