"""Throw away the partial HDF5 file of a visit whose journal failed, without crashing the process.

Why: the partial file is never trusted after a failure (recovery rebuilds it from the journal), but it is still
open in the compactor's writer, with dirty chunks in HDF5's cache. Measured on a full 3 MB tmpfs: closing it fails
(ENOSPC) and h5py then segfaults when the writer's objects are freed (exit code 139, at garbage collection or at
interpreter exit), whether or not the file was closed explicitly; emptying the file first does not help (the
cache holds more than the file). With the file's descriptors pointed at /dev/null the close completes (HDF5's
writes vanish, its reads past the end are zeros) and the process ends cleanly. Linux (`/proc/self/fd`); elsewhere
the file is only closed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from acquisition.log import get_logger

_log = get_logger("visitfile.discard")


def _descriptors_of(path: Path) -> list[int]:
    target = str(path.resolve())
    out: list[int] = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}") == target:
                out.append(int(name))
        except (OSError, ValueError):
            continue
    return out


def discard_partial(path: Path, close: Callable[[], None]) -> None:
    """Point every descriptor of `path` at /dev/null, call `close` (the writer's abort), remove `path`."""
    path = Path(path)
    if path.exists():
        fds = _descriptors_of(path)
        if fds:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                for fd in fds:
                    os.dup2(null, fd, inheritable=False)
            finally:
                os.close(null)
            _log.info("partial.detached", path=str(path), descriptors=len(fds))
    close()
    path.unlink(missing_ok=True)
