"""Driver CPU cost of NDI Aurora tracking at 40 Hz, and timestamp error against the simulator's true frame times.

The simulator runs in a thread of this process; the driver's read loop runs in the main thread (CPU measured with
time.thread_time(), this thread only, so the simulator's own work is not counted) and its TX polling runs in the
driver's child process (CPU read from /proc/<pid>/stat, start-up included).
    .venv/bin/python bench/aurora_cpu.py --seconds 30 --drift-ppm 100
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LSLAPICFG", str(Path(__file__).resolve().parents[1] / "acquisition" / "lsl_api.cfg"))

import numpy as np  # noqa: E402

from drivers.common.faults import FaultSettings, FaultSwitchboard  # noqa: E402
from drivers.jaw.aurora.config import AuroraConfig  # noqa: E402
from drivers.jaw.aurora.driver import TOOL_CHANNELS, AuroraJawSource  # noqa: E402
from drivers.jaw.aurora.simulator import AuroraSimulator  # noqa: E402


def proc_cpu(pid: int | None) -> float:
    """utime + stime of a process, seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--drift-ppm", type=float, default=100.0)
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--read-timeout", type=float, default=0.1, help="Source.read(timeout) as the session manager calls it")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds excluded from the timestamp figures (fit settling)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aurora-bench-"))
    sim = AuroraSimulator(link=tmp / "aurora", rate=a.rate, faults=FaultSwitchboard(FaultSettings(drift_ppm=a.drift_ppm))).start()
    sim.set_step("jaw_max_opening", a.seconds + 10)
    cfg = AuroraConfig(path=sim.path, nominal_rate=a.rate, incisal_offset_mm=tuple(sim.incisal_offset), icp_mm=tuple(sim.icp_head), simulated=True)
    src = AuroraJawSource(cfg)
    src.open()
    tools, t_lsl, t_read, xyz = [], [], [], []
    assert src._poller is not None
    poll_pid = src._poller._proc.pid
    p0 = proc_cpu(poll_pid)
    c0, w0 = time.thread_time(), time.monotonic()
    while time.monotonic() - w0 < a.seconds:
        for ch in src.read(a.read_timeout):
            if ch.stream == "jaw_tools":
                tools.append(ch.data)
                t_lsl.append(ch.t_lsl)
                t_read.append(ch.t_read)
            else:
                xyz.append(ch.data)
    cpu, wall = time.thread_time() - c0, time.monotonic() - w0
    poll_cpu = proc_cpu(poll_pid) - p0
    counters = dict(src.counters())
    src.close()
    truth = sim.truth_arrays()
    sim.close()
    frames = np.concatenate(tools)[:, TOOL_CHANNELS.index("frame")]
    idx = np.searchsorted(truth["frames"], frames)
    t_true = truth["times"][idx]
    tl, tr = np.concatenate(t_lsl), np.concatenate(t_read)
    keep = t_true - t_true[0] >= a.warmup
    e_fit = (tl - t_true)[keep] * 1e3
    e_read = (tr - t_true)[keep] * 1e3
    pos_err = np.abs(np.concatenate(xyz).astype(np.float64) - truth["xyz"][idx])
    print(f"aurora bench: {wall:.1f} s wall, {len(frames)} frames ({len(frames) / wall:.2f} Hz), drift {a.drift_ppm:+.0f} ppm")
    print(f"  driver CPU, read() thread: {cpu:.3f} s -> {cpu / wall * 1e3:.2f} ms CPU per s of tracking ({cpu / max(len(frames), 1) * 1e6:.0f} us per frame)")
    print(f"  driver CPU, polling process (pid {poll_pid}): {poll_cpu:.3f} s -> {poll_cpu / wall * 1e3:.2f} ms CPU per s of tracking")
    print(f"  t_lsl - true frame time (after {a.warmup:.0f} s): mean {e_fit.mean():+.2f} ms, |err| p99 {np.percentile(np.abs(e_fit), 99):.2f} ms, max {np.abs(e_fit).max():.2f} ms")
    print(f"  t_read - true frame time: mean {e_read.mean():+.2f} ms, p99 {np.percentile(e_read, 99):.2f} ms, max {e_read.max():.2f} ms")
    print(f"  incisal point |error| vs generator: max {pos_err.max():.4f} mm")
    print(f"  counters: gaps={counters['gaps']} samples_lost={counters['samples_lost']} crc_errors={counters['crc_errors']} tx_sent={counters['tx_sent']} duplicates={counters['duplicates']}")


if __name__ == "__main__":
    main()
