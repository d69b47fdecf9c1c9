"""Recording throughput: amuse-acq (`sessions.cli record`) against a naive pylsl + h5py script, on the visit mix.

For each m, an outlet process (bench/lsl_mix_outlet.py) pushes EMG 16 x m ch @ 2 kHz, jaw 6 ch @ 200 Hz and plate
6 ch @ 100 Hz (float32, channel 0 a sample counter) for --seconds; a recorder subprocess records it. amuse-acq and
the naive baseline (bench/naive_recorder.py) run one after the other, each against its own fresh outlet run.

    .venv/bin/python bench/record_throughput.py --m 1,8,32 --seconds 30 --compression gzip --out results.json

Per m and recorder it prints: CPU-seconds (total from wait4 rusage, and steady state between the recorder's
"recording" and "stopping" lines, from psutil), steady CPU as % of one core, peak RSS (ru_maxrss), samples
expected (pushed) / received (rows in the sealed file) / lost (expected - unique counters received), and the time
to seal (the recorder's own "close took" figure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("LSLAPICFG", str(REPO / "acquisition" / "lsl_api.cfg"))
sys.path.insert(0, str(REPO))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

from acquisition.lsl.inlet import record_name  # noqa: E402

PY = sys.executable
STREAMS = ("emg", "jaw", "plate")


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


class Lines:
    """Reads a process's stdout in a thread; calls `on_line(line)` at once (timestamps matter), keeps the lines."""

    def __init__(self, stream: Any, on_line: Any = None) -> None:
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self._on_line = on_line
        self._t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._t.start()

    def _run(self, stream: Any) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if self._on_line is not None:
                self._on_line(line)
            with self._cv:
                self.lines.append(line)
                self._cv.notify_all()
        with self._cv:
            self.lines.append("<eof>")
            self._cv.notify_all()

    def wait_for(self, prefix: str, timeout: float) -> str | None:
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                if "<eof>" in self.lines:
                    return None
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)


def counters_in_file(path: Path, recorder: str, prefix: str) -> dict[str, np.ndarray]:
    """The counter column (channel 0) of each stream in a sealed file."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for s in STREAMS:
            lsl = f"{prefix}_{s}"
            g = f["streams"][record_name(lsl)] if recorder == "amuse-acq" else f[lsl]
            ds = g["data"]
            n = ds.shape[0]
            step = max(1, (64 * 2**20) // max(1, ds.shape[1] * 4))
            col = np.empty(n, dtype=np.float64)
            for i in range(0, n, step):
                col[i:i + step] = ds[i:i + step, 0]
            if recorder == "amuse-acq":
                seq = g["device_seq"][:]
                if not np.array_equal(seq, np.rint(col).astype(np.int64)):
                    raise AssertionError(f"{path}: device_seq differs from the counter column in {lsl}")
            out[s] = np.rint(col).astype(np.int64)
    return out


def run_one(recorder: str, m: int, seconds: float, compression: str, work: Path, grace: float,
            outlets_on: bool) -> dict[str, Any]:
    prefix = f"b{os.getpid()}m{m}{'a' if recorder == 'amuse-acq' else 'n'}"
    lsl_names = [f"{prefix}_{s}" for s in STREAMS]
    outlet = subprocess.Popen([PY, str(REPO / "bench" / "lsl_mix_outlet.py"), "--m", str(m), "--seconds",
                               str(seconds), "--prefix", prefix], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=REPO)
    out_lines = Lines(outlet.stdout)
    if out_lines.wait_for("ready", 120) is None:
        outlet.kill()
        raise RuntimeError("outlet did not start")
    data_dir = work / f"{recorder}-m{m}"
    data_dir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "AMUSE_LOG_LEVEL": "WARNING",
           "AMUSE_COMPRESSION": compression}
    if not outlets_on:
        env["AMUSE_LSL_OUTLETS"] = "false"
    if recorder == "amuse-acq":
        cmd = [PY, "-m", "sessions.cli", "record"]
        for n in lsl_names:
            cmd += ["--lsl", n]
        cmd += ["--seq-channel", "0", "--subject", "BEN-001", "--visit", "D0", "--operator", "bench",
                "--duration", "0", "--resolve-timeout", "30", "--data-dir", str(data_dir), "--simulated"]
    else:
        cmd = [PY, str(REPO / "bench" / "naive_recorder.py")]
        for n in lsl_names:
            cmd += ["--lsl", n]
        cmd += ["--out", str(data_dir / "naive.h5"), "--duration", "0", "--compression", compression]
    stderr_path = data_dir / "stderr.txt"
    marks: dict[str, tuple[float, float]] = {}
    rec_holder: dict[str, psutil.Process] = {}

    def on_line(line: str) -> None:
        for key in ("recording", "stopping"):
            if line.startswith(key) and key not in marks and "p" in rec_holder:
                try:
                    ct = rec_holder["p"].cpu_times()
                    marks[key] = (time.monotonic(), ct.user + ct.system)
                except psutil.Error:
                    pass

    with open(stderr_path, "w") as err:
        rec = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO, env=env)
        rec_holder["p"] = psutil.Process(rec.pid)
        rec_lines = Lines(rec.stdout, on_line)
        done_line = out_lines.wait_for("done", seconds + 180)
        started = rec_lines.wait_for("recording", 5)
        time.sleep(grace)  # let the recorder take what is still in the inlet buffers
        rec.send_signal(signal.SIGTERM)
        _, status, ru = os.wait4(rec.pid, 0)
        rec.returncode = os.waitstatus_to_exitcode(status)
        rec_lines.wait_for("<eof>", 10)
    outlet.stdin.close()  # type: ignore[union-attr]
    try:
        outlet.wait(10)
    except subprocess.TimeoutExpired:
        outlet.kill()
    res: dict[str, Any] = {"recorder": recorder, "m": m, "emg_channels": 16 * m, "seconds": seconds,
                           "compression": compression, "returncode": rec.returncode,
                           "cpu_s_total": round(ru.ru_utime + ru.ru_stime, 3),
                           "peak_rss_mb": round(ru.ru_maxrss / 1024, 1)}
    if started is None or done_line is None:
        res["error"] = f"recorder or outlet failed; see {stderr_path}"
        res["stderr_tail"] = stderr_path.read_text()[-2000:]
        return res
    outlet_info = json.loads(done_line[len("done "):])
    res["outlet_max_push_lag_s"] = outlet_info.get("max_push_lag_s")
    if "recording" in marks and "stopping" in marks:
        (t0, c0), (t1, c1) = marks["recording"], marks["stopping"]
        res["steady_wall_s"] = round(t1 - t0, 3)
        res["cpu_s_steady"] = round(c1 - c0, 3)
        res["cpu_pct_core_steady"] = round(100.0 * (c1 - c0) / (t1 - t0), 2)
    sealed = rec_lines.wait_for("sealed:", 1)
    if sealed is None or rec.returncode != 0:
        res["error"] = f"no sealed file (rc {rec.returncode}); see {stderr_path}"
        res["stderr_tail"] = stderr_path.read_text()[-2000:]
        return res
    path = Path(sealed.split("sealed:", 1)[1].split("  (close took")[0].strip())
    res["seal_s"] = float(sealed.rsplit("close took", 1)[1].split()[0])
    res["file_mb"] = round(path.stat().st_size / 2**20, 2)
    got = counters_in_file(path, recorder, prefix)
    per: dict[str, Any] = {}
    for s in STREAMS:
        expected = int(outlet_info["pushed"][f"{prefix}_{s}"])
        c = got[s]
        uniq = np.unique(c[(c >= 0) & (c < expected)])
        per[s] = {"expected": expected, "received": int(c.size), "lost": int(expected - uniq.size),
                  "duplicates": int(c.size - np.unique(c).size)}
    res["streams"] = per
    res["expected"] = sum(p["expected"] for p in per.values())
    res["received"] = sum(p["received"] for p in per.values())
    res["lost"] = sum(p["lost"] for p in per.values())
    shutil.rmtree(data_dir, ignore_errors=True)
    return res


def fmt_row(r: dict[str, Any]) -> str:
    if "error" in r and "lost" not in r:
        return f"{r['m']:>5} {r['recorder']:<9}  ERROR: {r['error']}"
    return (f"{r['m']:>5} {r['recorder']:<9} {r['cpu_s_total']:>8.2f} {r.get('cpu_s_steady', float('nan')):>8.2f} "
            f"{r.get('cpu_pct_core_steady', float('nan')):>7.2f} {r['peak_rss_mb']:>8.1f} {r['expected']:>10} "
            f"{r['received']:>10} {r['lost']:>8} {r['seal_s']:>7.3f} {r['file_mb']:>8.1f}")


HEADER = (f"{'m':>5} {'recorder':<9} {'cpu_tot':>8} {'cpu_ss':>8} {'%core':>7} {'rss_MB':>8} {'expected':>10} "
          f"{'received':>10} {'lost':>8} {'seal_s':>7} {'file_MB':>8}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", default="1,8,32", help="comma-separated EMG width multipliers (16 x m channels)")
    ap.add_argument("--seconds", type=float, default=30.0, help="seconds pushed per run (default 30)")
    ap.add_argument("--compression", default="gzip", choices=["gzip", "lzf", "none"])
    ap.add_argument("--recorders", default="amuse-acq,naive", help="which recorders (amuse-acq,naive)")
    ap.add_argument("--grace", type=float, default=3.0, help="seconds between the outlet's last push and SIGTERM")
    ap.add_argument("--no-lsl-outlets", action="store_true",
                    help="amuse-acq: do not republish the recorded streams on LSL (AMUSE_LSL_OUTLETS=false)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--dir", type=Path, default=None, help="parent of the temporary data directories")
    args = ap.parse_args()

    ms = [int(x) for x in args.m.split(",") if x.strip()]
    recorders = [r.strip() for r in args.recorders.split(",") if r.strip()]
    for r in recorders:
        if r not in ("amuse-acq", "naive"):
            ap.error(f"unknown recorder {r!r}")
    info = machine()
    print(f"machine: {info['nproc']} x {info['cpu']}, {info['ram_gb']} GB RAM, Python {info['python']}")
    print(f"mix: EMG 16 x m ch @ 2 kHz + jaw 6 ch @ 200 Hz + plate 6 ch @ 100 Hz, float32; {args.seconds:g} s per run;"
          f" compression {args.compression}; LSL republish {'off' if args.no_lsl_outlets else 'on'}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="record-bench-", dir=args.dir))
    results = []
    try:
        for m in ms:
            for r in recorders:
                res = run_one(r, m, args.seconds, args.compression, work, args.grace, not args.no_lsl_outlets)
                results.append(res)
                print(HEADER if len(results) == 1 else "", end="\n" if len(results) == 1 else "")
                print(fmt_row(res), flush=True)
                if res.get("lost"):
                    print(f"      per stream: {json.dumps(res['streams'])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by = {(r["m"], r["recorder"]): r for r in results}
    print("\ntargets:")
    for m in ms:
        a, n = by.get((m, "amuse-acq")), by.get((m, "naive"))
        if a and "lost" in a:
            print(f"  m={m}: amuse-acq lost {a['lost']} -> {'OK' if a['lost'] == 0 else 'MISSED'} (zero loss)")
        if m == 1 and a and "cpu_pct_core_steady" in a:
            print(f"  m=1: amuse-acq steady CPU {a['cpu_pct_core_steady']:.2f} % of a core -> "
                  f"{'OK' if a['cpu_pct_core_steady'] < 1.0 else 'MISSED'} (< 1 %)")
            if n and "cpu_s_steady" in n:
                ratio = a["cpu_s_steady"] / max(1e-9, n["cpu_s_steady"])
                print(f"  m=1: amuse-acq / naive steady CPU = {ratio:.2f} -> {'OK' if ratio <= 1 / 3 else 'MISSED'}"
                      f" (<= 1/3)")
    if args.out:
        args.out.write_text(json.dumps({"machine": info, "args": vars(args) | {"out": str(args.out),
                                                                              "dir": str(args.dir)},
                                        "results": results}, indent=1, default=str))
        print(f"results: {args.out}")


if __name__ == "__main__":
    main()
