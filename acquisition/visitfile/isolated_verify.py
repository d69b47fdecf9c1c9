"""The whole check of one visit file in a forked child, so that HDF5 aborting the process on a damaged file
costs that file, not the check of the others (`amuse-acq verify DIR`).

The child first opens the file and walks its metadata (the probe, `reader/_probe_child.walk`) and says so in one
line, then runs `verify_file` and sends its report as JSON. The parent waits for the first line within the
probe's time limit (a file that hangs HDF5 on open is `VisitFileHung`, as with `probe`), then for the report
without a limit (reading a large visit takes as long as it takes, exactly as in-process). A child that ends
without a report (HDF5 called abort(), a segfault) is one problem line of that file.

Cost, measured with the test visit file on the 2-core machine kind: probe + in-process verify 26 + 46 ms, the
probe and the verify in one forked child 74 ms: the isolation is free, because the probe forked anyway. As the
probe, it forks only while the process runs one Python thread (a fork beside another thread holding h5py's lock
could deadlock); otherwise the probe is spawned and `verify_file` runs in-process. The seal never comes here: it
calls `verify_file` in-process on the file it has just written (and needs the journal tallies).
"""

from __future__ import annotations

import os
import select
import signal
import threading
from pathlib import Path

from pydantic import ValidationError

from acquisition.visitfile import verify as _verify
from acquisition.visitfile.reader import PROBE_TIMEOUT_S, VisitFileError, VisitFileHung, probe
from acquisition.visitfile.reader import _probe_child
from acquisition.visitfile.reader._probe import _reap
from acquisition.visitfile.verify import VerifyReport

__all__ = ["verify_isolated"]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _child(path: str, w: int) -> None:
    line = _probe_child.walk(path).replace("\n", " ")
    _write_all(w, (line + "\n").encode("utf-8", "replace"))
    _write_all(w, _verify.verify_file(Path(path)).model_dump_json().encode())


def verify_isolated(path: Path, *, open_timeout_s: float = PROBE_TIMEOUT_S, fork: bool | None = None) -> VerifyReport:
    """`verify_file(path)`, in a forked child when the process has one thread (`fork=None`). Raises
    `VisitFileHung` if the file does not open within `open_timeout_s`; any other failure is in the report."""
    path = Path(path)
    if not (threading.active_count() == 1 if fork is None else fork):
        try:
            probe(path, open_timeout_s)
        except VisitFileHung:
            raise
        except VisitFileError:
            pass  # unreadable: verify_file says so in its own words
        return _verify.verify_file(path)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no Python-level cleanup, no atexit handlers, no flushing of the parent's buffers
        try:
            os.close(r)
            _child(str(path), w)
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    try:
        ready, _, _ = select.select([r], [], [], open_timeout_s)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
            raise VisitFileHung(path, f"HDF5 did not open it within {open_timeout_s:g} s (a dead network mount or "
                                      "a pathological file); it was not opened in this process")
        while chunk := os.read(r, 65536):
            data += chunk
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    _, _, report = data.partition(b"\n")
    try:
        return VerifyReport.model_validate_json(report)
    except ValidationError:
        why = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}")
        return VerifyReport(path=str(path), ok=False, problems=[
            f"the check of this file ended without a report ({why}: HDF5 aborted on it?); the other files "
            "were checked"])
