"""Replay speed: how many times faster than real time a whole sealed visit replays into a data directory through
the real session manager, journal, compactor and seal (`sessions.replay.replay_into`), and that the replay is
identical to the original (`sessions.compare.compare_visits`).

    .venv/bin/python bench/replay_speed.py [FILE] [--runs 5]

Without FILE it first records a demo visit (`amuse-acq demo`, about 65 s) into a temporary directory. The speed
factor is the visit's duration on its own clock (`visit.opened` to `visit.closed`) over the wall time of
`replay_into` in this process (interpreter start-up and imports excluded; `amuse-acq replay` adds them). Each
run replays into a fresh temporary directory. Printed per run: wall and CPU seconds (all threads), and the
factor; then the best and the median, the time of the original's full verification alone (a fixed cost of every
replay: the file is checked before anything is written) and the comparison of the last replay.

Measured on the project's machine kind: 2 x AMD EPYC vCPU (VM), 23.5 GB RAM, Python 3.11.7, HDF5 through h5py,
gzip-1 + shuffle (the default settings); see docs/performance.md, "Deterministic replay".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(REPO / "acquisition" / "lsl_api.cfg"))
os.environ.setdefault("AMUSE_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(REPO))

from acquisition.config import AcqSettings  # noqa: E402
from acquisition.log import configure  # noqa: E402
from acquisition.visitfile.reader import VisitFile  # noqa: E402
from sessions.compare import compare_visits  # noqa: E402
from sessions.replay import replay_into  # noqa: E402


def _demo(where: Path) -> Path:
    from sessions.demo import run_demo

    print("recording a demo visit first (about 65 s) ...", flush=True)
    sealed = run_demo(AcqSettings(data_dir=where, create_data_dir=True), progress=lambda _line: None)
    assert sealed is not None
    return sealed.path


def _span(path: Path) -> float:
    with VisitFile.open(path) as vf:
        opened = vf.events(name="visit.opened")
        closed = vf.events(name="visit.closed")
        if not opened or not closed:
            raise SystemExit(f"{path.name}: no visit.opened / visit.closed event: not a whole visit")
        return closed[0].t_lsl - opened[0].t_lsl


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, help="a sealed visit file (default: record a demo visit)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    configure(level="WARNING")
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as tmp:
        src = args.file or _demo(Path(tmp) / "demo")
        span = _span(src)
        size_mb = src.stat().st_size / 1e6
        print(f"file {src.name}: {size_mb:.1f} MB, visit {span:.1f} s")
        t0 = time.perf_counter()
        VisitFile.open(src, verify="full").close()
        verify_s = time.perf_counter() - t0
        walls, out = [], None
        for i in range(args.runs):
            settings = AcqSettings(data_dir=Path(tmp) / f"run{i}", create_data_dir=True)
            c0, t0 = time.process_time(), time.perf_counter()
            out = replay_into(src, settings)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            walls.append(wall)
            print(f"run {i + 1}: {wall:.3f} s wall, {cpu:.3f} s CPU, {span / wall:.1f}x real time", flush=True)
        best, med = min(walls), statistics.median(walls)
        print(f"best {best:.3f} s = {span / best:.1f}x real time; median {med:.3f} s = {span / med:.1f}x")
        print(f"of which the full verification of the original alone: {verify_s:.3f} s")
        assert out is not None
        result = compare_visits(src, out)
        print("replay identical to the original" if result.identical else
              f"replay DIFFERS from the original: {len(result.differences)} difference(s), first: "
              f"{result.differences[0]}")
        print(f"load average {os.getloadavg()[0]:.2f}")
        return 0 if result.identical else 1


if __name__ == "__main__":
    sys.exit(main())
