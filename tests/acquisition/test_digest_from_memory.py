"""The writer's digest tree takes a scan's values from the arrays it was given, not by reading them back: the seal's
verification is then the one re-read of those bytes from disk, and it still catches what was stored wrong."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import acquisition.visitfile.content_digest as cd
import acquisition.visitfile.writer as writer_mod
from acquisition.visitfile.content_digest import array_values_digest, digest_tree
from acquisition.visitfile.seal import SealError, seal_file
from acquisition.visitfile.writer import VisitFileWriter

ATTRS = {"software_version": "t", "site": "SIM", "subject": "ABC-001", "visit": "D0", "operator": "t",
         "started_utc": "2026-01-01T00:00:00Z", "closed_utc": "", "state": "recording", "simulated": True,
         "config": "{}", "boot_id": "b"}


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"vertices": rng.normal(0, 30, (3000, 3)), "faces": rng.integers(0, 3000, (5000, 3)),
            "uv": rng.random((3000, 2)).astype(np.float32), "photo": np.frombuffer(bytes(range(256)) * 20, np.uint8),
            "big_endian": np.arange(2000, dtype=">i4"), "empty": np.zeros((0, 3)), "tiny": np.array([1.5])}


def _write(path: Path) -> VisitFileWriter:
    w = VisitFileWriter(path, ATTRS)
    w.add_scan("rest_1", _arrays(), {"condition": "rest"})
    return w


@pytest.mark.parametrize("name", list(_arrays()))
def test_a_value_digest_from_memory_is_the_one_read_from_the_file(tmp_path: Path, name: str) -> None:
    a = _arrays()[name]
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("d", data=a, compression="gzip", shuffle=True, chunks=True if a.size else None)
    with h5py.File(tmp_path / "x.h5", "r") as f:
        assert array_values_digest(a) == cd._values_digest(f["d"])


def test_finish_does_not_read_the_scans_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _write(tmp_path / "ABC-001_D0.h5.partial")
    read: list[str] = []
    real = cd._values_digest

    def spy(ds: h5py.Dataset) -> bytes:
        read.append(ds.name)
        return real(ds)

    monkeypatch.setattr(cd, "_values_digest", spy)
    w.finish({"closed_utc": "2026-01-01T00:01:00Z", "state": "sealed"})
    assert not [p for p in read if p.startswith("/scans/")], read
    monkeypatch.undo()
    with h5py.File(tmp_path / "ABC-001_D0.h5.partial", "r") as f:  # re-read from disk: the same tree
        assert digest_tree(f).root == f.attrs["content_sha256"]


def test_the_seal_still_catches_a_scan_stored_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If what reached the disk is not what the writer was given (here: the digest it took of them is off), the
    seal's re-read finds it and refuses: the safety of the seal is the re-read, kept."""
    partial = tmp_path / "ABC-001_D0.h5.partial"
    monkeypatch.setattr(writer_mod, "array_values_digest", lambda a: bytes(32))
    w = _write(partial)
    w.finish({"closed_utc": "2026-01-01T00:01:00Z", "state": "sealed"})
    with pytest.raises(SealError, match=r"/scans/rest_1/\w+: values differ from the recorded digest tree"):
        seal_file(partial, tmp_path / "ABC-001_D0.h5", data_dir=tmp_path, expected=w.tallies,
                  expected_events=w.n_events)
    assert not (tmp_path / "ABC-001_D0.h5").exists()
