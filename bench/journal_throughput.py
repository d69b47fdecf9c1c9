"""Journal throughput: append EMG-like chunks (encode + framed append) for N seconds worth of data, as fast as
possible, then read them back. Prints MB/s, records/s, real-time factor and the fsync count.

    .venv/bin/python bench/journal_throughput.py --seconds 600 --channels 16 --rate 2000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(REPO / "acquisition" / "lsl_api.cfg"))
os.environ.setdefault("AMUSE_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from acquisition.chunk import Chunk  # noqa: E402
from acquisition.journal import Journal, LogCursor, decode_chunk, encode_chunk  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600.0, help="seconds of signal to journal (default 600)")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--rate", type=float, default=2000.0, help="samples per second per channel")
    ap.add_argument("--chunk-samples", type=int, default=20, help="samples per chunk (20 at 2 kHz = 10 ms reads)")
    ap.add_argument("--dtype", default="int32", help="raw dtype (int32 = 24-bit ADC codes)")
    ap.add_argument("--no-t-read", action="store_true", help="do not carry the raw read stamps")
    ap.add_argument("--fsync-interval", type=float, default=1.0)
    ap.add_argument("--segment-mib", type=int, default=64)
    ap.add_argument("--dir", type=Path, default=None, help="journal parent directory (default: a temp dir)")
    args = ap.parse_args()

    n_total = int(args.seconds * args.rate)
    k = args.chunk_samples
    n_chunks = (n_total + k - 1) // k
    rng = np.random.default_rng(0)
    pool = [rng.integers(-(2**23), 2**23, size=(k, args.channels)).astype(args.dtype) for _ in range(16)]

    parent = Path(tempfile.mkdtemp(prefix="journal-bench-", dir=args.dir))
    root = parent / "j"
    try:
        j = Journal(root, fsync_interval_s=args.fsync_interval, segment_bytes=args.segment_mib * 2**20)
        w = j.log("streams/emg")
        t0 = time.perf_counter()
        t_lsl0 = 1000.0
        for i in range(n_chunks):
            seq = np.arange(i * k, i * k + k, dtype=np.int64)
            t = t_lsl0 + seq / args.rate
            ch = Chunk.build("emg", pool[i % 16], seq, t, None if args.no_t_read else t + 0.0003)
            w.append(encode_chunk(ch))
        t_append = time.perf_counter() - t0
        j.close()
        t_close = time.perf_counter() - t0
        c = j.counters()

        t1 = time.perf_counter()
        cur = LogCursor(root / "streams" / "emg")
        got = 0
        while True:
            batch = cur.read_new(final=True, max_records=4096)
            if not batch:
                break
            for p in batch:
                got += decode_chunk(p).n
        t_read = time.perf_counter() - t1

        mb = c["bytes"] / 1e6
        print(f"machine: {platform.node()} nproc={os.cpu_count()} python={platform.python_version()} fs={root}")
        print(
            f"data: {args.seconds:g} s x {args.channels} ch x {args.rate:g} Hz {args.dtype}, {k}-sample chunks "
            f"({n_chunks} records, {mb:.1f} MB journaled, t_read={'no' if args.no_t_read else 'yes'})"
        )
        print(
            f"append (encode+frame+write): {t_append:.2f} s -> {mb / t_append:.1f} MB/s, "
            f"{n_chunks / t_append:,.0f} records/s, {args.seconds / t_append:,.0f}x real time"
        )
        print(f"close (final fsync): {t_close - t_append:.3f} s; fsyncs: {c['fsyncs']} (interval {args.fsync_interval} s)")
        print(
            f"read back (cursor + decode): {t_read:.2f} s -> {mb / t_read:.1f} MB/s, {got} samples "
            f"({'complete' if got == n_chunks * k else 'MISMATCH'}), damage {cur.counters()['damaged_regions']}"
        )
    finally:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
