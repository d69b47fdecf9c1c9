"""Open a visit file in a child process first, so a file that hangs HDF5 cannot hang the caller.

A visit file on a dead network mount blocks `open()` in the kernel, and a pathological HDF5 file can loop inside
the library; in-process, neither can be interrupted (h5py holds its lock, signals wait for C code). The probe
opens the file and walks its metadata (`_probe_child.py`) in a child with a time limit; only then does the caller
open it in-process. A child that does not answer is killed and the file refused with `VisitFileHung`.

Cost, measured on the 2-core exam-room machine kind with the test visit file (26 objects):
- in-process open + root attributes: 2 ms;
- `os.fork()` child: 10-25 ms. Safe only while this process runs a single thread: a child forked while another
  thread holds h5py's lock (or a logging lock) would deadlock and look like a hang;
- a fresh interpreter (`python -I _probe_child.py`): 270 ms, safe in any process.
So the probe forks when the process has one Python thread (a script, the CLI) and spawns otherwise (the session
service); it is on by default because 10 ms is nothing next to reading a visit. Limits: it checks the open and
the metadata, not the reading of samples; a child stuck in the kernel on a dead mount may outlive the kill
(it is left behind, never waited for).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from acquisition.visitfile.reader import _probe_child
from acquisition.visitfile.reader._errors import VisitFileHung, VisitFileUnreadable

#: default time limit of the probe (a healthy file answers in milliseconds; a slow network share in well under 1 s)
PROBE_TIMEOUT_S = 10.0

_CHILD = Path(_probe_child.__file__).resolve()


def _reap(pid: int) -> None:
    """Collect a killed child if it is gone within 0.5 s; a child stuck in the kernel is left behind."""
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.01)


def _forked(path: str, timeout_s: float) -> str | None:
    """The child's line, or None on timeout."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no Python-level cleanup, no atexit handlers, no flushing of the parent's buffers
        try:
            os.close(r)
            os.write(w, (_probe_child.walk(path) + "\n").encode("utf-8", "replace")[:4096])
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout_s)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
            return None
        data = b""
        while chunk := os.read(r, 4096):
            data += chunk
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    if not data:
        return f"error the HDF5 probe process ended without an answer (wait status {status}: HDF5 aborted?)"
    return data.decode("utf-8", "replace").strip()


def _spawned(path: str, timeout_s: float) -> str | None:
    proc = subprocess.Popen([sys.executable, "-I", str(_CHILD), path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.communicate(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass  # stuck in the kernel: left behind
        return None
    line = out.decode("utf-8", "replace").strip()
    if not line:
        return f"error the HDF5 probe process ended without an answer (exit code {proc.returncode}: HDF5 aborted?)"
    return line


def probe(path: Path | str, timeout_s: float = PROBE_TIMEOUT_S) -> int:
    """Open `path` with HDF5 and walk its metadata in a child process; the number of objects and attributes seen.
    Raises `VisitFileHung` past `timeout_s`, `VisitFileUnreadable` if HDF5 cannot open it."""
    p = str(path)
    line = _forked(p, timeout_s) if threading.active_count() == 1 else _spawned(p, timeout_s)
    if line is None:
        raise VisitFileHung(path, f"HDF5 did not open it within {timeout_s:g} s (a dead network mount or a "
                                  "pathological file); it was not opened in this process")
    kind, _, rest = line.partition(" ")
    if kind == "ok":
        return int(rest)
    raise VisitFileUnreadable(path, rest if rest.startswith("the HDF5 probe") else f"not a readable HDF5 file ({rest})")
