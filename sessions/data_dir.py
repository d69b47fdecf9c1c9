"""The data directory and the visit's place in it, checked before a visit is claimed or a device touched.

A missing data directory is refused unless creating it was asked for (`--create-data-dir`, setting
`create_data_dir`): an exam-room PC whose data disk failed to mount would otherwise write the trial's records onto
the system disk, where nobody backs them up. The demo alone also creates its default `./data` (simulated visits,
a fresh clone's `make demo`).

`check_visit_free` is the early, advisory refusal of a visit that is already sealed or open, so that a duplicate
costs neither a simulator start nor an LSL resolve; `VisitStore.create` stays the atomic claim.
"""

from __future__ import annotations

import os
from pathlib import Path

from acquisition.journal.layout import makedirs_durable
from sessions.visit_store import VisitExists, VisitStore

#: the demo's default data directory (relative to the current directory), the only one it creates unasked
DEMO_DEFAULT_DATA_DIR = Path("data")


class DataDirError(Exception):
    """The data directory is unusable: `code` 2 for refused input (not a directory, missing), 1 for a failure."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def prepare_data_dir(path: Path, *, create: bool) -> Path:
    """Return `path` once it is an existing directory that takes new entries; create it only if `create`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataDirError(f"data directory {path} is not a directory (it is an existing file)")
    if not path.exists():
        if path.is_symlink():
            raise DataDirError(f"data directory {path} is a dangling symbolic link (is the data disk mounted?)")
        if not create:
            raise DataDirError(
                f"data directory {path} does not exist (is the data disk mounted?); create it first, "
                "or pass --create-data-dir (setting create_data_dir) to have it created")
        try:
            makedirs_durable(path)
        except OSError as exc:
            raise DataDirError(f"cannot create data directory {path}: {exc.strerror or exc}", code=1) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(f"data directory {path} is not writable by this user", code=1)
    # the visit store's own folder (see sessions.visit_store): creating it proves the directory takes new entries
    # (root passes os.access on /proc or a read-only mount) before any simulator starts or stream is resolved
    try:
        makedirs_durable(path / ".open")
    except OSError as exc:
        raise DataDirError(f"data directory {path} cannot hold visits: {exc.strerror or exc} "
                           f"creating {path / '.open'}", code=1) from None
    return path


def check_visit_free(data_dir: Path, key: str) -> None:
    """Raise `VisitExists` if visit `key` is already sealed or open (recording, or left open by a crash)."""
    store = VisitStore(data_dir)
    final = store.final_path(key)
    if final.exists() or final.is_symlink():
        raise VisitExists(f"visit {key} is already recorded in {final}; a visit file is never overwritten")
    open_dir = store.open_dir(key)
    if open_dir.exists() or open_dir.is_symlink():
        raise VisitExists(
            f"visit {key} has an unsealed recording in {open_dir}; seal it with `amuse-acq recover {data_dir}`, "
            f"or set it aside with `amuse-acq abandon {data_dir} --subject ... --visit ... --operator ... "
            "--reason ...`")
