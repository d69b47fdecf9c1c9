"""The simulated rig's working folder: removed on close, and swept by the next rig if its owner was killed.

The rig keeps its pty symlinks and the simulated scanner's export folder (files a vendor may name after the
patient) in a temporary folder. `close()` and interpreter exit remove it, but a SIGKILLed demo runs neither, and
the folder used to stay in /tmp for good. So every rig folder lives under one per-user root,
`<tmp>/amuse-rigs-<uid>/rig-<pid>-<start ticks>-<random>`, its name saying which process owns it; each new rig
first removes the folders whose owner is gone. The owner is the pid *and* its start time (field 22 of
/proc/<pid>/stat), so a recycled pid does not keep a dead rig's folder alive, and a live rig's folder is never
touched. The root must be a real directory of ours, mode 0700 (a shared /tmp): otherwise the rig falls back to a
private `mkdtemp` folder, removed on close only, and sweeps nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from acquisition.log import get_logger

_NAME = re.compile(r"^rig-(\d+)-(\d+)-[A-Za-z0-9_]+$")


def rig_root() -> Path:
    return Path(tempfile.gettempdir()) / f"amuse-rigs-{os.getuid()}"


def start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the command name may hold spaces and parentheses
    try:
        if fields[0] in ("Z", "X"):  # a zombie (killed, not yet reaped: PID 1 of a container may never) is gone
            return None
        return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def _owner_alive(pid: int, ticks: int) -> bool:
    if ticks == 0:  # made without /proc: the pid alone says it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return start_ticks(pid) == ticks


def _usable_root(root: Path) -> bool:
    """The root exists (created if need be), is a directory (not a symlink) of ours, closed to others."""
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        st = root.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Remove the rig folders under `root` whose owner process is gone; the folders removed."""
    root = rig_root() if root is None else root
    if not _usable_root(root):
        return []
    removed: list[Path] = []
    log = get_logger("rig")
    for entry in sorted(root.iterdir()):
        m = _NAME.match(entry.name)
        if m is None or not entry.is_dir() or entry.is_symlink():
            continue  # not a rig folder: not ours to judge
        if _owner_alive(int(m.group(1)), int(m.group(2))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
            log.info("rig.stale_folder_removed", folder=entry.name, owner_pid=int(m.group(1)))
        else:
            log.warning("rig.stale_folder_kept", folder=entry.name, detail="could not be removed")
    return removed


def create_workdir() -> Path:
    """A fresh rig folder owned by this process (after sweeping the stale ones)."""
    root = rig_root()
    sweep_stale(root)
    if not _usable_root(root):
        return Path(tempfile.mkdtemp(prefix="amuse-rig-"))
    ticks = start_ticks(os.getpid())
    return Path(tempfile.mkdtemp(prefix=f"rig-{os.getpid()}-{ticks or 0}-", dir=root))


def remove_workdir(path: Path) -> None:
    """Remove a rig folder (idempotent; never raises: closing a rig must not hide the visit's outcome)."""
    shutil.rmtree(path, ignore_errors=True)
