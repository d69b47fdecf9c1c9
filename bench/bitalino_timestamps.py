"""Timestamp error of the BITalino driver against the simulators' true emission times.

Two simulated boards at 1 kHz, each in its own process (so the driver's threads do not delay the simulators'
writes), with and without device clocks 100 ppm off (+100 on board A, -100 on board B). Each simulator saves the
time each frame's bytes were written and the tick of its own sample clock; the script prints RMS / max error
of the fitted times (Chunk.t_lsl) and of the raw read times (Chunk.t_read) against both, after a warm-up (the
counter fit needs about 2 s of data).
    .venv/bin/python bench/bitalino_timestamps.py --seconds 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(REPO / "acquisition" / "lsl_api.cfg"))
os.environ.setdefault("AMUSE_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig  # noqa: E402
from drivers.emg.bitalino.driver import BitalinoEmgSource  # noqa: E402


def start_sim(link: str, seed: int, inputs: str, drift: float, out: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "drivers.emg.bitalino.simulate_cli", "--link", link, "--seed", str(seed),
         "--inputs", inputs, "--drift-ppm", str(drift), "--emissions-out", out],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert p.stdout is not None
    if p.stdout.readline().strip() != link:
        raise SystemExit("simulator did not print its path")
    return p


def stats(err_ms: np.ndarray) -> str:
    return f"RMS {np.sqrt(np.mean(err_ms**2)):.3f} ms, max {np.abs(err_ms).max():.3f} ms"


def run(seconds: float, drift_ppm: float, warmup: float, read_interval: float) -> None:
    d = tempfile.mkdtemp(prefix="bitalino-ts-")
    sims = {
        "emg_a": start_sim(f"{d}/a", 1, "TA_R,TA_L,MM_R,MM_L", drift_ppm, f"{d}/a.npz"),
        "emg_b": start_sim(f"{d}/b", 2, "DA_R,DA_L,SCM_R,SCM_L", -drift_ppm, f"{d}/b.npz"),
    }
    cfg = BitalinoConfig(simulated=True, read_interval_s=read_interval, boards=[
        BoardConfig(stream="emg_a", path=f"{d}/a", inputs={"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}),
        BoardConfig(stream="emg_b", path=f"{d}/b", inputs={"A1": "DA_R", "A2": "DA_L", "A3": "SCM_R", "A4": "SCM_L"}),
    ])
    src = BitalinoEmgSource(cfg)
    chunks: dict[str, list] = {"emg_a": [], "emg_b": []}
    try:
        src.open()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds + warmup:
            for c in src.read(0.1):
                chunks[c.stream].append(c)
    finally:
        src.close()
        for p in sims.values():
            p.terminate()
            p.wait(10)
    for name, cs in chunks.items():
        truth = np.load(f"{d}/{name[-1]}.npz")
        k, t_write, t_ideal = truth["k"], truth["t_write"], truth["t_ideal"]
        assert np.array_equal(k, np.arange(len(k)))
        seq = np.concatenate([c.device_seq for c in cs])
        t_fit = np.concatenate([c.t_lsl for c in cs])
        t_read = np.concatenate([c.t_read for c in cs])
        keep = seq < len(k)
        seq, t_fit, t_read = seq[keep], t_fit[keep], t_read[keep]
        late = t_write[seq] - t_write[0] >= warmup
        s, tf, tr = seq[late], t_fit[late], t_read[late]
        drift = f"{drift_ppm if name == 'emg_a' else -drift_ppm:+5.0f} ppm"
        print(f"{name} drift {drift}, n={len(s)}:")
        print(f"   fitted t_lsl - write time : {stats((tf - t_write[s]) * 1e3)}")
        print(f"   raw t_read   - write time : {stats((tr - t_write[s]) * 1e3)}")
        e = (tf - t_ideal[s]) * 1e3
        print(f"   fitted t_lsl - device tick: {stats(e)} (constant part {e.mean():+.3f} ms)")
        sim_lag = (t_write[s] - t_ideal[s]) * 1e3
        print(f"   (simulator write lag behind its own tick: median {np.median(sim_lag):.3f} ms, max {sim_lag.max():.3f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured span after the warm-up")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--drift-ppm", type=float, default=100.0)
    ap.add_argument("--read-interval", type=float, default=0.01, help="driver's minimum time between port reads")
    args = ap.parse_args()
    for drift in (0.0, args.drift_ppm):
        run(args.seconds, drift, args.warmup, args.read_interval)


if __name__ == "__main__":
    main()
