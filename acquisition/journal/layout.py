"""On-disk layout of a journal: log names, segment file names, the lock file, durable directory creation.

```
<root>/journal.lock                  flock'ed by the one Journal that has the directory open
<root>/<log name>/seg-000000.amj     append-only segments of framed records, in order
<root>/<log name>/seg-000001.amj     ...
```
A log name is one to four `/`-separated parts of `[A-Za-z0-9][A-Za-z0-9_-]{0,63}`, e.g. "events",
"streams/emg": no "..", no ".", no absolute path, no empty part.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LOCK_FILE = "journal.lock"
SEGMENT_SUFFIX = ".amj"
_SEGMENT = re.compile(r"^seg-(\d{6,12})\.amj$")
_PART = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_LOG_NAME = re.compile(rf"^{_PART}(/{_PART}){{0,3}}$")


def validate_log_name(name: str) -> str:
    """Return `name` if it is a valid log name, else raise ValueError saying why."""
    if not isinstance(name, str) or not _LOG_NAME.match(name):
        raise ValueError(
            f"journal log name {name!r} is invalid: use 1-4 '/'-separated parts of letters, digits, '_' or '-' "
            "(first character a letter or digit), e.g. 'events' or 'streams/emg'"
        )
    return name


def segment_name(index: int) -> str:
    if index < 0:
        raise ValueError(f"segment index must be >= 0, got {index}")
    return f"seg-{index:06d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The segment files of one log directory as (index, path), in order. Missing directory -> []."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        m = _SEGMENT.match(n)
        if m:
            out.append((int(m.group(1)), Path(directory) / n))
    out.sort()
    return out


def fsync_dir(directory: Path) -> None:
    """fsync a directory so that entries created in it (files, subdirectories) survive a power loss."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_durable(directory: Path) -> None:
    """Create `directory` and missing parents; fsync the parent of every directory created."""
    directory = Path(directory)
    missing: list[Path] = []
    p = directory
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            pass
        fsync_dir(d.parent)
