"""The visit file is checked block by block against its digests, in one or two processes; tampering is found."""

from __future__ import annotations

import hashlib
import shutil
import stat
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acquisition.visitfile.verify as verify_mod
from acquisition.visitfile.digest import BlockDigest, root_of
from acquisition.visitfile.manifest import check_manifest
from acquisition.visitfile.verify import verify_file
from tests.sessions.helpers import open_session, ramp_source


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=30), st.integers(min_value=1, max_value=7))
@settings(max_examples=60, deadline=None)
def test_block_digest_does_not_depend_on_how_bytes_arrive(cuts: list[int], block_rows: int) -> None:
    row = 3
    data = bytes(range(256)) * 2
    d = BlockDigest(row, block_rows)
    pos = 0
    for c in cuts:
        d.update(data[pos : pos + c])
        pos = min(len(data), pos + c)
    d.update(data[pos:])
    size = row * block_rows
    expected = [hashlib.sha256(data[i : i + size]).digest() for i in range(0, len(data), size)]
    assert d.digests() == expected
    assert d.root() == root_of(expected)


@pytest.fixture()
def sealed(tmp_path: Path) -> Path:
    s = open_session(tmp_path / "data")
    s.add_source(ramp_source("big", 64, 2000.0))
    s.add_source(ramp_source("small", 2, 100.0))
    time.sleep(1.0)
    return s.close().path


def _tamper(path: Path, dest: Path, dataset: str, row: int) -> Path:
    shutil.copy(path, dest)
    dest.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with h5py.File(dest, "r+") as f:
        ds = f[dataset]
        v = ds[row]
        ds[row] = v + 1
    return dest


def test_untouched_file_verifies_in_two_processes(sealed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_mod, "PARALLEL_MIN_BYTES", 0)  # force the worker process
    rep = verify_file(sealed)
    assert rep.ok, rep.problems
    assert {c.name for c in rep.streams} == {"big", "small"}


@pytest.mark.parametrize("dataset", ["streams/big/data", "streams/big/device_seq", "streams/small/t_lsl"])
def test_one_changed_value_is_found(sealed: Path, tmp_path: Path, dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_mod, "PARALLEL_MIN_BYTES", 0)
    bad = _tamper(sealed, tmp_path / "tampered.h5", dataset, 7)
    rep = verify_file(bad)
    assert not rep.ok
    assert any(dataset.split("/", 1)[1].replace("/", "/") in p and "digest" in p for p in rep.problems), rep.problems


def test_manifest_catches_a_changed_file(sealed: Path) -> None:
    data_dir = sealed.parent
    assert check_manifest(data_dir) == []
    sealed.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with h5py.File(sealed, "r+") as f:
        f.attrs["operator"] = "someone-else"
    problems = check_manifest(data_dir)
    assert len(problems) == 1 and "changed after sealing" in problems[0]


def test_verify_reports_a_missing_file_and_garbage(tmp_path: Path) -> None:
    p = tmp_path / "x.h5"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    rep = verify_file(p)
    assert not rep.ok and "not a readable HDF5 file" in rep.problems[0]
