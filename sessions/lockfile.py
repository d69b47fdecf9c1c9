"""Advisory locks (`flock`) on small files that say who holds them.

Why flock: the kernel drops the lock when the holder dies (kill -9, power loss), so a crashed recorder never
leaves a stale lock behind, and two locks on the same file conflict even within one process (each `open` is
its own open file description). The holder writes one line (pid, command, since) into the file after taking it,
so whoever is refused can say who holds it (only the program and its sub-command: no argument, which could be
a path naming a patient).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import IO

from acquisition.clock import utc_iso

_WORD = re.compile(r"[a-z][a-z-]{0,30}")


class LockBusy(RuntimeError):
    """The lock is held by another process (or another handle in this one); the message names the holder."""


class HeldLock:
    """A lock taken by `acquire`; released by `release()`, by leaving a `with` block, or when garbage collected
    (the file object closes its descriptor)."""

    def __init__(self, path: Path, fh: IO[bytes]) -> None:
        self.path = path
        self._fh: IO[bytes] | None = fh

    @property
    def held(self) -> bool:
        return self._fh is not None

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()  # closing the last descriptor of the open file description drops the flock

    def __enter__(self) -> "HeldLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder_line(path: Path) -> str:
    """'pid 123 (amuse-acq recover /data) since 2026-...Z', from what the holder wrote; 'unknown holder' if the
    file cannot be read or is being written."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
        return f"pid {int(info['pid'])} ({str(info['command'])[:200]}) since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown holder"


def _command() -> str:
    """The program and its sub-command ('cli.py recover'), never its other arguments: the lock file of a visit
    is archived with its journal, and an argument may be a path that names a patient."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    sub = next((a for a in sys.argv[1:] if _WORD.fullmatch(a)), "")
    return f"{prog} {sub}".strip()


def _write_holder(fh: IO[bytes]) -> None:
    line = json.dumps({"pid": os.getpid(), "command": _command(), "since": utc_iso()})
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(line.encode("utf-8") + b"\n")
        fh.flush()
    except OSError:
        pass  # a full disk must not stop the lock itself from working; the holder is then "unknown"


def acquire(path: Path, *, what: str, wait_s: float = 0.0, create: bool = True, poll_s: float = 0.05) -> HeldLock:
    """Take the exclusive lock on `path`, waiting at most `wait_s` (0: fail at once).

    `create=False`: the file must exist (raises FileNotFoundError otherwise) and is only read, so taking the
    lock writes nothing (recover checks a visit it may not touch this way). Raises `LockBusy` naming `what` and
    the holder; an OSError (ENOSPC creating the file, EACCES...) propagates.
    """
    path = Path(path)
    fh: IO[bytes] = open(path, "a+b" if create else "rb")  # noqa: SIM115 - owned by the HeldLock
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                fh.close()
                raise
            if time.monotonic() >= deadline:
                fh.close()
                raise LockBusy(f"{what} is locked by {holder_line(path)} ({path})") from None
            time.sleep(poll_s)
    if create:
        _write_holder(fh)
    return HeldLock(path, fh)
