"""CPU cost of the BITalino driver: 2 boards at 1 kHz, simulators in separate processes.

Prints CPU seconds of the driver process per second of data (user+sys, psutil), and the samples received.
    .venv/bin/python bench/bitalino_cpu.py --seconds 20
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

import psutil  # noqa: E402

from drivers.emg.bitalino.config import BitalinoConfig, BoardConfig  # noqa: E402
from drivers.emg.bitalino.driver import BitalinoEmgSource  # noqa: E402


def start_sim(link: str, seed: int, inputs: str, drift: float) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "drivers.emg.bitalino.simulate_cli", "--link", link, "--seed", str(seed),
         "--inputs", inputs, "--drift-ppm", str(drift)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert p.stdout is not None
    first = p.stdout.readline().strip()
    if first != link:
        raise SystemExit(f"simulator printed {first!r}, expected {link!r}")
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--drift-ppm", type=float, default=0.0)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="bitalino-bench-")
    sims = [start_sim(f"{d}/a", 1, "TA_R,TA_L,MM_R,MM_L", args.drift_ppm),
            start_sim(f"{d}/b", 2, "DA_R,DA_L,SCM_R,SCM_L", -args.drift_ppm)]
    cfg = BitalinoConfig(simulated=True, boards=[
        BoardConfig(stream="emg_a", path=f"{d}/a", inputs={"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}),
        BoardConfig(stream="emg_b", path=f"{d}/b", inputs={"A1": "DA_R", "A2": "DA_L", "A3": "SCM_R", "A4": "SCM_L"}),
    ])
    src = BitalinoEmgSource(cfg)
    me = psutil.Process()
    try:
        src.open()
        n = {"emg_a": 0, "emg_b": 0}
        time.sleep(1.0)  # let the fit settle; not measured
        for c in src.read(0.0):
            pass
        c0 = me.cpu_times()
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            for c in src.read(0.1):
                n[c.stream] += c.n
        c1 = me.cpu_times()
        wall = time.monotonic() - t0
        counters = src.counters()
    finally:
        src.close()
        for p in sims:
            p.terminate()
            p.wait(5)
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(f"boards=2 rate=1000Hz wall={wall:.1f}s samples={n}")
    print(f"driver CPU: {cpu:.2f} s over {wall:.1f} s = {cpu / wall:.3f} CPU-s per s of data "
          f"({100 * cpu / wall:.1f}% of one core; user {c1.user - c0.user:.2f} s, sys {c1.system - c0.system:.2f} s)")
    print(f"per sample: {1e6 * cpu / max(1, sum(n.values())):.1f} us; crc_errors={counters.get('crc_errors')} "
          f"gaps={counters.get('gaps')} samples_lost={counters.get('samples_lost')}")


if __name__ == "__main__":
    main()
