"""Discarding the partial file of a failed visit: its descriptors go to /dev/null, it is closed and removed."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from acquisition.visitfile.discard import _descriptors_of, discard_partial


def test_discard_partial_detaches_closes_and_removes(tmp_path: Path) -> None:
    path = tmp_path / "V.h5.partial"
    f = h5py.File(path, "w-", rdcc_nbytes=8 * 1024 * 1024)
    d = f.create_dataset("x", shape=(0, 4), maxshape=(None, 4), chunks=(1024, 4), dtype="i4", compression="gzip")
    d.resize((5000, 4))
    d[:] = np.arange(20000, dtype="i4").reshape(5000, 4)  # dirty chunks in the cache, not yet on disk
    fds = _descriptors_of(path)
    assert fds, "h5py holds the file open"
    size_before = path.stat().st_size
    seen: list[int] = []

    def close() -> None:
        # by now every descriptor of the file points at /dev/null: the close writes nothing to it
        seen.extend(fd for fd in fds if os.readlink(f"/proc/self/fd/{fd}") == os.devnull)
        f.close()
        assert path.stat().st_size == size_before

    discard_partial(path, close)
    assert sorted(seen) == sorted(fds)
    assert not path.exists()
    assert _descriptors_of(path) == []


def test_discard_partial_without_a_file_just_closes(tmp_path: Path) -> None:
    calls: list[str] = []
    discard_partial(tmp_path / "missing.h5.partial", lambda: calls.append("closed"))
    assert calls == ["closed"]
