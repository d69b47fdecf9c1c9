"""The visit file is checked block by block against its digests, in one or two processes; tampering is found;
the content digest tree is canonical (independent of attribute order and read slabs) and listed at seal."""

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

import acquisition.visitfile.content_digest as content_mod
import acquisition.visitfile.verify as verify_mod
from acquisition.visitfile.content_digest import compare_trees, digest_tree
from acquisition.visitfile.digest import BlockDigest, root_of
from acquisition.visitfile.manifest import (CONTENT_MANIFEST_NAME, MANIFEST_NAME, append_manifest, check_manifest,
                                            sha256_file)
from acquisition.visitfile.schema import EVENT_DTYPE
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


# -- the content digest tree ---------------------------------------------------------------------------------
def _small_file(path: Path, attr_order: list[str]) -> Path:
    values = {"a": "x", "b": np.int64(3), "c": 1.5, "d": True, "e": np.arange(3, dtype=np.float32)}
    with h5py.File(path, "w") as f:
        for k in attr_order:
            f.attrs[k] = values[k]
        g = f.create_group("g")
        g.create_dataset("v", data=np.arange(5000, dtype=np.int64).reshape(1000, 5), chunks=(100, 5),
                         compression="gzip")
        t = g.create_dataset("t", shape=(50,), dtype=EVENT_DTYPE)
        t[:] = np.array([(float(i), "u", "marker", f"n{i}", "", "s", "{}") for i in range(50)], dtype=EVENT_DTYPE)
    return path


def test_the_tree_depends_on_content_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _small_file(tmp_path / "a.h5", ["a", "b", "c", "d", "e"])
    b = _small_file(tmp_path / "b.h5", ["e", "d", "c", "b", "a"])
    with h5py.File(a) as fa, h5py.File(b) as fb:
        ta, tb = digest_tree(fa), digest_tree(fb)
        monkeypatch.setattr(content_mod, "_SLAB_BYTES", 64)  # read in slabs of 1-2 rows: same digests
        tc = digest_tree(fa)
    assert ta.root is not None and ta.root == tb.root == tc.root
    assert ta.nodes == tb.nodes == tc.nodes
    assert set(ta.nodes) == {"/", "/g", "/g/v", "/g/t"} and ta.n_attrs == 5


def test_the_tree_sees_a_changed_value_type(tmp_path: Path) -> None:
    a = _small_file(tmp_path / "a.h5", ["a", "b", "c", "d", "e"])
    with h5py.File(a) as f:
        before = digest_tree(f)
    with h5py.File(a, "r+") as f:
        f.attrs["b"] = np.int32(3)  # same number, other type
    with h5py.File(a) as f:
        after = digest_tree(f)
    assert after.root != before.root
    assert compare_trees(before.nodes, after) == ["/: attributes differ from the recorded digest tree"]


def test_a_sealed_visit_records_its_content_root_in_both_places(sealed: Path) -> None:
    rep = verify_file(sealed)
    assert rep.ok and rep.content_root is not None
    with h5py.File(sealed) as f:
        assert f.attrs["content_sha256"] == rep.content_root
    lines = (sealed.parent / CONTENT_MANIFEST_NAME).read_text().splitlines()
    assert lines == [f"{rep.content_root}  {sealed.name}"]


def test_listing_a_file_again_writes_no_second_line(sealed: Path) -> None:
    data_dir = sealed.parent
    before = {m: (data_dir / m).read_text() for m in (MANIFEST_NAME, CONTENT_MANIFEST_NAME)}
    append_manifest(data_dir, sealed, sha256_file(sealed))  # as `recover` does to finish an interrupted seal
    assert {m: (data_dir / m).read_text() for m in before} == before
    assert check_manifest(data_dir) == []
