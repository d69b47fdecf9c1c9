"""Time to seal a long visit, without waiting for it: a real SessionManager (journal + background compactor + seal)
fed by fast sources that emit pre-generated chunks of the visit mix as fast as the journal takes them.

    .venv/bin/python bench/seal_time.py --minutes 60 --compression gzip,lzf

Mix (m = 1): EMG 16 ch @ 2 kHz float32 (channel 0 a counter, the rest EMG-like Gaussian noise with bursts; noise
compresses poorly), jaw 6 ch @ 200 Hz, plate 6 ch @ 100 Hz, in 0.1 s chunks (the inlet's pull cadence). The
sources hold back the last --tail-s seconds; once the compactor has caught up with everything else (as it keeps up
during a real visit), the tail is released and `close()` is timed at once: final compaction pass of the tail +
HDF5 finish + verify (re-read and hash every dataset against the journal tallies) + fsync + link + manifest +
journal archive. Prints the seal time (with a breakdown), the file size and the verify result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(REPO / "acquisition" / "lsl_api.cfg"))
os.environ.setdefault("AMUSE_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import acquisition.visitfile.seal as seal_mod  # noqa: E402
from acquisition.chunk import Chunk  # noqa: E402
from acquisition.config import AcqSettings  # noqa: E402
from acquisition.events import Event  # noqa: E402
from acquisition.log import configure  # noqa: E402
from acquisition.stream import DeviceIdentity, StreamSpec  # noqa: E402
from acquisition.visitfile.compactor import Compactor  # noqa: E402
from sessions.manager import SessionManager  # noqa: E402
from sessions.subject import VisitIdentity  # noqa: E402
from sessions.visit_store import VisitStore  # noqa: E402

MIX = (("emg", "emg", 16, 2000.0, "uV", 50.0), ("jaw", "jaw", 6, 200.0, "mm", 5.0),
       ("plate", "plate", 6, 100.0, "N", 20.0))


class FastSource:
    """A Source that emits a pre-generated signal as fast as it is read, holding back the last `tail` samples
    until `release()`."""

    def __init__(self, name: str, kind: str, channels: int, rate: float, unit: str, scale: float, *,
                 seconds: float, tail_s: float, chunk_s: float = 0.1, seed: int = 0) -> None:
        self._spec = StreamSpec(
            name=name, kind=kind,  # type: ignore[arg-type]
            channels=("counter",) + tuple(f"ch{i}" for i in range(1, channels)),
            units=("count",) + (unit,) * (channels - 1), dtype="float32", nominal_rate=rate,
            device=DeviceIdentity(model="bench", serial=f"bench-{name}", simulated=True, transport="bench"),
        )
        self.rate = rate
        self.total = int(seconds * rate)
        self.hold = self.total - int(tail_s * rate)
        self.k = 0
        self.step = max(1, int(chunk_s * rate))
        rng = np.random.default_rng(seed)
        rows = int(10 * rate) + 7  # ~10 s pool, cycled at an odd offset
        pool = rng.standard_normal((rows, channels), dtype=np.float32)
        env = (1.0 + 4.0 * (np.sin(np.linspace(0, 20 * np.pi, rows, dtype=np.float32)) > 0.6))[:, None]
        self.pool = (pool * scale * env).astype(np.float32)
        self.released = threading.Event()
        self.t0 = 1000.0

    @property
    def name(self) -> str:
        return "fast:" + self._spec.name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return [self._spec]

    def open(self) -> None:
        return None

    def release(self) -> None:
        self.released.set()

    def read(self, timeout: float) -> Sequence[Chunk]:
        limit = self.total if self.released.is_set() else self.hold
        if self.k >= limit:
            time.sleep(min(timeout, 0.01))
            return []
        k1 = min(limit, self.k + self.step)
        idx = np.arange(self.k, k1)
        data = self.pool[idx % self.pool.shape[0]]
        data[:, 0] = idx
        self.k = k1
        return [Chunk.build(self._spec.name, data, idx, self.t0 + idx / self.rate)]

    def drain_events(self) -> Sequence[Event]:
        return []

    def counters(self) -> Mapping[str, int]:
        return {"samples": self.k}

    def close(self) -> None:
        return None


class Timer:
    """Wraps functions to time them (bench only)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def wrap(self, owner: Any, attr: str, label: str, only_if: Any = None) -> None:
        fn = getattr(owner, attr)

        def timed(*a: Any, **kw: Any) -> Any:
            if only_if is not None and not only_if(a, kw):
                return fn(*a, **kw)
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.t[label] = self.t.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, timed)


def run(minutes: float, compression: str, level: int, tail_s: float, parent: Path) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"seal-{compression}-", dir=parent))
    settings = AcqSettings(data_dir=data_dir, compression=compression, compression_level=level,  # type: ignore[arg-type]
                           lsl_outlets=False)
    ident = VisitIdentity.checked(subject="BEN-001", visit="D0", operator="bench", site=settings.site)
    timer = Timer()
    saved = {(Compactor, "run_once"): Compactor.run_once, (Compactor, "finish"): Compactor.finish,
             (seal_mod, "verify_file"): seal_mod.verify_file, (seal_mod, "sha256_file"): seal_mod.sha256_file,
             (seal_mod, "append_manifest"): seal_mod.append_manifest, (VisitStore, "archive"): VisitStore.archive}
    try:
        timer.wrap(Compactor, "run_once", "final compaction pass", only_if=lambda a, kw: kw.get("final"))
        passes = [0]
        timed_run_once = Compactor.run_once

        def counting_run_once(self: Compactor, *, final: bool = False) -> int:
            try:
                return timed_run_once(self, final=final)
            finally:
                passes[0] += 1

        Compactor.run_once = counting_run_once  # type: ignore[method-assign]
        timer.wrap(Compactor, "finish", "finish (qc, tallies, HDF5 close)")
        timer.wrap(seal_mod, "verify_file", "verify (re-read + hash)")
        timer.wrap(seal_mod, "sha256_file", "sha256 of the file")
        timer.wrap(seal_mod, "append_manifest", "manifest")
        timer.wrap(VisitStore, "archive", "journal archive")
        seconds = minutes * 60.0
        sources = [FastSource(*m, seconds=seconds, tail_s=tail_s, seed=i) for i, m in enumerate(MIX)]
        t_feed = time.perf_counter()
        session = SessionManager.open(settings, ident, simulated=True)
        for s in sources:
            session.add_source(s)
        # journal everything but the tail, and let the compactor catch up (as it keeps up during a real visit)
        while any(s.k < s.hold for s in sources):
            time.sleep(0.2)
        t_journaled = time.perf_counter() - t_feed
        while True:
            w = session.compactor.writer
            if w is not None and all(w.tallies.get(s.streams[0].name) is not None
                                     and w.tallies[s.streams[0].name].n >= s.hold for s in sources):
                break
            time.sleep(0.2)
        # tallies move when records are appended, before the pass writes them out: wait for a pass that
        # started after this point to complete, so the compactor is really idle, as in a real visit
        target = passes[0] + 2
        while passes[0] < target:
            time.sleep(0.05)
        t_caught_up = time.perf_counter() - t_feed
        for s in sources:
            s.release()
        while any(s.k < s.total for s in sources):
            time.sleep(0.005)
        # timed during close only: every fsync (journal close, the visit file, directories, manifest)
        saved[(os, "fsync")] = os.fsync
        timer.wrap(os, "fsync", "fsyncs (journal, file, dirs)")
        saved[(SessionManager, "_stop_reader")] = SessionManager._stop_reader
        timer.wrap(SessionManager, "_stop_reader", "stop readers")
        t0 = time.perf_counter()
        sealed = session.close()
        seal_s = time.perf_counter() - t0
    finally:
        for (owner, attr), fn in saved.items():
            setattr(owner, attr, fn)
    size = sealed.path.stat().st_size
    raw = sum(s.total * s.streams[0].n_channels * 4 + s.total * 16 for s in sources)
    res = {"compression": compression, "level": level if compression == "gzip" else None, "minutes": minutes,
           "seal_s": round(seal_s, 3), "breakdown_s": {k: round(v, 3) for k, v in timer.t.items()},
           "file_mb": round(size / 2**20, 1), "raw_mb": round(raw / 2**20, 1),
           "verify_ok": sealed.report.ok, "verify_problems": sealed.report.problems,
           "samples": {s.streams[0].name: s.total for s in sources},
           "file_samples": {c.name: c.n_samples for c in sealed.report.streams},
           "journal_s": round(t_journaled, 1), "compactor_caught_up_s": round(t_caught_up, 1)}
    shutil.rmtree(data_dir, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--compression", default="gzip,lzf", help="comma-separated: gzip, lzf, none")
    ap.add_argument("--level", type=int, default=1, help="gzip level (the default setting is 1)")
    ap.add_argument("--tail-s", type=float, default=2.0, help="data left for close (the compaction interval)")
    ap.add_argument("--dir", type=Path, default=None, help="parent of the temporary data directory")
    args = ap.parse_args()
    configure(level="WARNING")
    for comp in [c.strip() for c in args.compression.split(",") if c.strip()]:
        r = run(args.minutes, comp, args.level, args.tail_s, args.dir or Path(tempfile.gettempdir()))
        print(f"{comp:>5}: {r['minutes']:g} min m=1 visit, file {r['file_mb']} MB (raw {r['raw_mb']} MB), "
              f"verify {'OK' if r['verify_ok'] else 'FAILED ' + '; '.join(r['verify_problems'])}, "
              f"seal {r['seal_s']:.3f} s  (target < 5 s: {'OK' if r['seal_s'] < 5 else 'MISSED'})", flush=True)
        print(f"       breakdown: " + ", ".join(f"{k} {v:.3f}" for k, v in r["breakdown_s"].items()))
        print(f"       samples in file {r['file_samples']} of {r['samples']}; journaled in {r['journal_s']} s, "
              f"compactor caught up at {r['compactor_caught_up_s']} s", flush=True)


if __name__ == "__main__":
    main()
