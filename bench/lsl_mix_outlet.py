"""The visit mix on LSL, in its own process: EMG 16 x m channels @ 2 kHz, jaw 6 ch @ 200 Hz, plate 6 ch @ 100 Hz,
all float32, channel 0 of every stream a sample counter (0, 1, 2, ...) so a recorder can prove completeness.

    .venv/bin/python bench/lsl_mix_outlet.py --m 1 --seconds 30 --prefix bench1

Prints `ready` once the three outlets exist, waits (at most --wait-consumers s) until every outlet has a consumer,
prints `start`, pushes in real time (one chunk per --chunk-ms) for --seconds, then prints one line
`done {json}` with the samples pushed per stream and the worst push lag behind the schedule. EMG-like values:
Gaussian noise (a pre-generated pool, cycled) with an amplitude envelope, so compression sees realistic data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(REPO / "acquisition" / "lsl_api.cfg"))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from acquisition.lslenv import local_clock, pylsl  # noqa: E402

EMG_RATE, JAW_RATE, PLATE_RATE = 2000.0, 200.0, 100.0


def mix(m: int, prefix: str) -> list[tuple[str, str, int, float, str]]:
    """(name, type, channels, rate, unit) of the three streams."""
    return [
        (f"{prefix}_emg", "EMG", 16 * m, EMG_RATE, "uV"),
        (f"{prefix}_jaw", "Mocap", 6, JAW_RATE, "mm"),
        (f"{prefix}_plate", "Force", 6, PLATE_RATE, "N"),
    ]


def make_outlet(name: str, kind: str, channels: int, rate: float, unit: str) -> "pylsl.StreamOutlet":
    info = pylsl.StreamInfo(name, kind, channels, rate, pylsl.cf_float32, f"bench-{name}")
    chans = info.desc().append_child("channels")
    for i in range(channels):
        ch = chans.append_child("channel")
        ch.append_child_value("label", "counter" if i == 0 else f"ch{i}")
        ch.append_child_value("unit", "count" if i == 0 else unit)
    return pylsl.StreamOutlet(info, 0, 360)


def noise_pool(rows: int, channels: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((rows, channels), dtype=np.float32)
    env = (1.0 + 4.0 * (np.sin(np.linspace(0, 6 * np.pi, rows, dtype=np.float32)) > 0.6))[:, None]
    pool *= scale * env
    return pool


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=1, help="EMG width multiplier: 16 x m channels")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("--chunk-ms", type=float, default=10.0)
    ap.add_argument("--wait-consumers", type=float, default=30.0)
    args = ap.parse_args()

    streams = mix(args.m, args.prefix)
    outlets = [make_outlet(*s) for s in streams]
    # pool rows: ~1 s of EMG for small m, capped at ~64 MB for big m
    pools = []
    for (_, _, c, rate, _), seed in zip(streams, (1, 2, 3), strict=True):
        rows = int(min(rate, max(64, (64 * 2**20) // (c * 4))))
        pools.append(noise_pool(rows, c, 50.0 if c > 6 else 5.0, seed))
    print("ready", flush=True)
    t_wait = time.monotonic()
    while not all(o.have_consumers() for o in outlets):
        if time.monotonic() - t_wait > args.wait_consumers:
            print("done " + json.dumps({"error": "no consumer", "pushed": {s[0]: 0 for s in streams}}), flush=True)
            return
        time.sleep(0.01)
    print("start", flush=True)
    totals = [int(rate * args.seconds) for (_, _, _, rate, _) in streams]
    done = [0, 0, 0]
    max_lag = 0.0
    t0 = local_clock()
    period = args.chunk_ms / 1000.0
    tick = 0
    while any(d < t for d, t in zip(done, totals, strict=True)):
        now = local_clock()
        for i, ((_, _, c, rate, _), outlet, pool) in enumerate(zip(streams, outlets, pools, strict=True)):
            due = min(totals[i], int((now - t0) * rate) + 1)
            k = done[i]
            if due <= k:
                continue
            rows = pool.shape[0]
            idx = np.arange(k, due)
            block = pool[idx % rows]
            block[:, 0] = idx
            outlet.push_chunk(block, float(t0 + (due - 1) / rate))
            done[i] = due
        tick += 1
        lag = local_clock() - (t0 + tick * period)
        max_lag = max(max_lag, lag)
        if lag < 0:
            time.sleep(-lag)
    pushed = {s[0]: d for s, d in zip(streams, done, strict=True)}
    print("done " + json.dumps({"pushed": pushed, "max_push_lag_s": round(max_lag, 4),
                                "push_seconds": round(local_clock() - t0, 3)}), flush=True)
    # keep the outlets alive until the recorder has drained them (closed by the bench: SIGTERM or stdin EOF)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
