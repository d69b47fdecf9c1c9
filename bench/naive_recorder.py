"""The naive baseline: what most lab scripts do. pylsl inlets, `pull_chunk` into plain Python lists, and an h5py
dataset `resize` + write per pull (gzip, one file). No journal, no fsync, no hashing, no verification.

    .venv/bin/python bench/naive_recorder.py --lsl bench1_emg --lsl bench1_jaw --lsl bench1_plate \
        --out /tmp/naive.h5 --duration 30

Prints the same three lines as `amuse-acq record` so the bench can measure both the same way:
`recording ...`, `stopping: ...`, `sealed: PATH  (close took X s)`. Stops after --duration s or on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(REPO / "acquisition" / "lsl_api.cfg"))
sys.path.insert(0, str(REPO))

import h5py  # noqa: E402

from acquisition.lslenv import pylsl  # noqa: E402  (only for LSLAPICFG; the rest is plain pylsl)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lsl", action="append", required=True, metavar="NAME")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until SIGTERM")
    ap.add_argument("--poll", type=float, default=0.1, help="sleep between pull rounds (s)")
    ap.add_argument("--timeout", type=float, default=0.0, help="pull_chunk timeout per inlet (s)")
    ap.add_argument("--compression", default="gzip", choices=["gzip", "lzf", "none"])
    ap.add_argument("--level", type=int, default=1, help="gzip level")
    args = ap.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    inlets = []
    for name in args.lsl:
        found = pylsl.resolve_byprop("name", name, 1, 10.0)
        if not found:
            print(f"naive: no stream {name!r}", file=sys.stderr)
            return 1
        inlet = pylsl.StreamInlet(found[0], max_buflen=360)
        inlet.open_stream(timeout=10.0)
        inlets.append((name, inlet, found[0].channel_count()))

    comp: dict = {}
    if args.compression == "gzip":
        comp = {"compression": "gzip", "compression_opts": args.level}
    elif args.compression == "lzf":
        comp = {"compression": "lzf"}
    f = h5py.File(args.out, "w")
    dsets = {}
    for name, _, c in inlets:
        g = f.create_group(name)
        dsets[name] = (
            g.create_dataset("data", shape=(0, c), maxshape=(None, c), dtype="float32", chunks=True, **comp),
            g.create_dataset("t_lsl", shape=(0,), maxshape=(None,), dtype="float64", chunks=True, **comp),
        )

    print(f"recording {', '.join(args.lsl)} into {args.out}", flush=True)
    t_end = time.monotonic() + args.duration if args.duration else float("inf")
    max_samples = 1_000_000
    while not stop.is_set() and time.monotonic() < t_end:
        for name, inlet, c in inlets:
            # the classic: lists of lists, then into h5py
            samples, stamps = inlet.pull_chunk(timeout=args.timeout, max_samples=max(1, max_samples // c))
            if not stamps:
                continue
            ds, dt = dsets[name]
            n0 = ds.shape[0]
            ds.resize(n0 + len(stamps), axis=0)
            ds[n0:] = samples
            dt.resize(n0 + len(stamps), axis=0)
            dt[n0:] = stamps
        time.sleep(args.poll)
    print("stopping: sealing the visit file", flush=True)
    t_close = time.perf_counter()
    for _, inlet, _ in inlets:
        inlet.close_stream()
    f.close()
    print(f"sealed: {args.out.resolve()}  (close took {time.perf_counter() - t_close:.3f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
