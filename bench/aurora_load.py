"""Frames lost by the NDI Aurora driver when its process is busy with CPU-bound Python work.

The Aurora simulator runs in a child process (its own interpreter and GIL), as in `amuse-acq demo`. The driver
runs in this process next to `--busy-threads` threads doing pure-Python work that holds the GIL (parsing OBJ
vertex lines as the scanner folder watcher does), while the main thread calls `Source.read(--read-timeout)` in a
loop and does `--consumer-ms` of pure-Python work per read() batch, as the session's reader thread does (journal
append, outlet push). Figures over `--seconds`:
- frames expected: device frame numbers spanned by the frames received (last - first + 1);
- frames received, lost (expected - received) and the driver's own gap counters;
- the largest spacing between host read stamps of consecutive frames, and the work rate of the busy threads.
    .venv/bin/python bench/aurora_load.py --seconds 30 --busy-threads 1
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("LSLAPICFG", str(Path(__file__).resolve().parents[1] / "acquisition" / "lsl_api.cfg"))

import numpy as np  # noqa: E402

from drivers.jaw.aurora.config import AuroraConfig  # noqa: E402
from drivers.jaw.aurora.driver import TOOL_CHANNELS, AuroraJawSource  # noqa: E402


def run_simulator(link: str, rate: float, ready: "mp.Queue[object]", stop: "mp.synchronize.Event") -> None:
    from drivers.jaw.aurora.simulator import AuroraSimulator

    sim = AuroraSimulator(link=link, rate=rate).start()
    sim.set_step("jaw_max_opening", 3600.0)
    ready.put((sim.path, tuple(sim.incisal_offset), tuple(sim.icp_head)))
    stop.wait()
    ready.put(dict(sim.counters))
    sim.close()


_MESH_TEXT = "\n".join(f"v {i * 0.013:.6f} {i * -0.7:.6f} {i * 1.9:.6f}" for i in range(2000))


def busy(stop: threading.Event, done: list[int]) -> None:
    """Pure-Python work that holds the GIL: parse 2000 OBJ vertex lines per iteration."""
    while not stop.is_set():
        acc = 0.0
        for line in _MESH_TEXT.split("\n"):
            parts = line.split()
            acc += float(parts[1]) + float(parts[2]) + float(parts[3])
        done[0] += 1


def consume(ms: float) -> None:
    end = time.perf_counter() + ms / 1e3
    x = 0
    while time.perf_counter() < end:
        x += sum(range(200))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--busy-threads", type=int, default=1)
    ap.add_argument("--read-timeout", type=float, default=0.1, help="Source.read(timeout) as sessions/manager.py calls it")
    ap.add_argument("--poll-factor", type=float, default=None, help="AuroraConfig.poll_factor (default: the config's default)")
    ap.add_argument("--consumer-ms", type=float, default=2.0, help="pure-Python work per read() batch in the reader thread")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="aurora-load-"))
    ctx = mp.get_context("spawn")
    q: mp.Queue[object] = ctx.Queue()
    stop_sim = ctx.Event()
    child = ctx.Process(target=run_simulator, args=(str(tmp / "aurora"), a.rate, q, stop_sim), daemon=True)
    child.start()
    path, offset, icp = q.get(timeout=30)  # type: ignore[misc]
    extra = {} if a.poll_factor is None else {"poll_factor": a.poll_factor}
    cfg = AuroraConfig(path=path, nominal_rate=a.rate, incisal_offset_mm=offset, icp_mm=icp, simulated=True, **extra)
    src = AuroraJawSource(cfg)
    src.open()

    stop_busy = threading.Event()
    done = [0]
    workers = [threading.Thread(target=busy, args=(stop_busy, done), daemon=True) for _ in range(a.busy_threads)]
    for w in workers:
        w.start()
    frames: list[np.ndarray] = []
    reads: list[np.ndarray] = []
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < a.seconds:
            for ch in src.read(a.read_timeout):
                if ch.stream == "jaw_tools":
                    frames.append(ch.data[:, TOOL_CHANNELS.index("frame")])
                    reads.append(ch.t_read)
            if a.consumer_ms > 0:
                consume(a.consumer_ms)
    finally:
        wall = time.monotonic() - t0
        stop_busy.set()
        for w in workers:
            w.join()
        counters = dict(src.counters())
        src.close()
        stop_sim.set()
        sim_counters = q.get(timeout=10)
        child.join(timeout=10)

    fr = np.concatenate(frames)
    tr = np.concatenate(reads)
    expected = int(fr[-1] - fr[0] + 1)
    received = int(len(np.unique(fr)))
    spacing = np.diff(tr) * 1e3
    print(f"aurora load bench: {wall:.1f} s, {a.rate:g} Hz, poll_factor {cfg.poll_factor:g}, {a.busy_threads} busy Python "
          f"thread(s), read({a.read_timeout:g}) + {a.consumer_ms:g} ms work per batch, load average {os.getloadavg()[0]:.2f}")
    print(f"  frames expected {expected}  received {received}  lost {expected - received} "
          f"({(expected - received) / expected * 100:.2f} %)")
    print(f"  driver counters: gaps={counters['gaps']} samples_lost={counters['samples_lost']} "
          f"duplicates={counters['duplicates']} tx_sent={counters['tx_sent']} reply_timeouts={counters['reply_timeouts']} "
          f"late_replies={counters.get('late_replies', 0)}")
    print(f"  simulator: TX answered {sim_counters['tx']} ({sim_counters['tx'] / wall:.1f}/s)")  # type: ignore[index]
    print(f"  t_read spacing of consecutive frames: p50 {np.median(spacing):.1f} ms, p99 {np.percentile(spacing, 99):.1f} ms, "
          f"max {spacing.max():.1f} ms")
    print(f"  busy threads: {done[0] / wall:.1f} mesh parses/s")


if __name__ == "__main__":
    main()
