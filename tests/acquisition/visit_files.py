"""Real sealed visit files in milliseconds, and byte-level damage: the writer and the seal, without a session.

Every kind of content a visit file holds is there: a wide stream in several digest blocks (`emg_a`), a derived
stream with a gap and read stamps (`cop`), events, a scan (mesh + photo), calibration, outcomes and QC.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from pathlib import Path

import h5py
import numpy as np
import pytest

import acquisition.visitfile.digest as digest_mod
from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.stream import DeviceIdentity, StreamSpec
from acquisition.visitfile.content_digest import digest_tree
from acquisition.visitfile.manifest import CONTENT_MANIFEST_NAME, MANIFEST_NAME, sha256_file
from acquisition.visitfile.seal import seal_file
from acquisition.visitfile.writer import VisitFileWriter

EMG_ROWS = 3000  # 64 ch int32: 1024-row chunks, and 1024-row digest blocks with the small block target below
COP_ROWS = 300


def _spec(name: str, kind: str, channels: int, dtype: str, rate: float) -> StreamSpec:
    return StreamSpec(name=name, kind=kind, channels=tuple(f"c{i}" for i in range(channels)),  # type: ignore[arg-type]
                      units=("u",) * channels, dtype=dtype, nominal_rate=rate,  # type: ignore[arg-type]
                      scale=(0.5,) * channels, offset=(0.0,) * channels,
                      device=DeviceIdentity(model="test", serial=f"T-{name}", simulated=True))


def make_visit(data_dir: Path, subject: str = "ABC-001", visit: str = "D0", *,
               journal_damage: dict[str, int] | None = None) -> Path:
    """Write, verify and seal `<subject>_<visit>.h5` in `data_dir` (manifests included); returns its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key = f"{subject}_{visit}"
    partial = data_dir / f"{key}.h5.partial"
    attrs = {"software_version": "test", "site": "SIM", "subject": subject, "visit": visit, "operator": "tech1",
             "started_utc": "2026-01-01T00:00:00Z", "closed_utc": "", "state": "recording", "simulated": True,
             "config": json.dumps({"k": 1}), "boot_id": "b", "started_t_lsl": 10.0}
    w = VisitFileWriter(partial, attrs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(digest_mod, "_TARGET_BLOCK_BYTES", 64 * 1024)
        w.add_stream(_spec("emg_a", "emg", 64, "int32", 1000.0))
        w.add_stream(_spec("cop", "cop", 2, "float32", 100.0))
    rng = np.random.default_rng(7)
    for i0 in range(0, EMG_ROWS, 500):
        n = min(500, EMG_ROWS - i0)
        w.append(Chunk.build("emg_a", rng.integers(-2000, 2000, (n, 64)).astype(np.int32),
                             np.arange(i0, i0 + n), 10.0 + np.arange(i0, i0 + n) / 1000.0))
    seq = np.concatenate([np.arange(0, 150), np.arange(155, 305)])  # a gap of 5 samples
    w.append(Chunk.build("cop", rng.normal(0, 5, (COP_ROWS, 2)).astype(np.float32), seq, 10.0 + seq / 100.0,
                         10.001 + seq / 100.0))
    w.add_events([Event(t_lsl=10.0 + k, utc="2026-01-01T00:00:0%dZ" % k, kind="marker", name="marker.set",
                        step="rest", payload={"k": k}) for k in range(5)])
    w.add_scan("rest_1", {"vertices": rng.normal(0, 30, (500, 3)), "faces": rng.integers(0, 500, (900, 3)),
                          "photo_frontal": np.frombuffer(b"\x89PNG" + bytes(2000), dtype=np.uint8)},
               {"condition": "rest", "repetition": 1, "units": "mm", "warnings": ["w1"], "landmarks": {}})
    w.write_calibration([{"id": "plate_tare", "kind": "tare", "device_serial": "SIM-CB4", "values": {"z": 1}}])
    w.write_outcomes([("rest", "aperture", 1.5, "mm", "m-1")])
    w.write_qc({"streams": {"emg_a": {"received": EMG_ROWS}}, "journal_damage_bytes": journal_damage or {"meta": 0}})
    w.finish({"closed_utc": "2026-01-01T00:01:00Z", "state": "sealed"})
    final = data_dir / f"{key}.h5"
    seal_file(partial, final, data_dir=data_dir, expected=w.tallies, expected_events=w.n_events)
    return final


def writable(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)


def read_only(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def flip_chunk_byte(path: Path, dataset: str, chunk: int = 0) -> tuple[int, int]:
    """Invert one byte in the middle of a stored (compressed) chunk; returns the chunk's (first row, rows)."""
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        info = ds.id.get_chunk_info(chunk)
        first, rows = int(info.chunk_offset[0]), int(ds.chunks[0])
    writable(path)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0xFF]))
    read_only(path)
    return first, rows


def relist(path: Path) -> None:
    """Rewrite the file's MANIFEST.sha256 line to its current bytes (what a forger would do)."""
    m = path.parent / MANIFEST_NAME
    lines = [ln for ln in m.read_text().splitlines() if not ln.endswith("  " + path.name)]
    m.write_text("".join(f"{ln}\n" for ln in lines) + f"{sha256_file(path)}  {path.name}\n")


def recompute_tree(path: Path) -> str:
    """Recompute and store the file's own digest tree (a forger who knows the format); returns the new root."""
    writable(path)
    with h5py.File(path, "r+") as f:
        tree = digest_tree(f)
        assert tree.root is not None, tree.problems
        f.attrs["content_digests"] = tree.nodes_json()
        f.attrs["content_sha256"] = tree.root
    read_only(path)
    return tree.root


def copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def content_line(data_dir: Path, name: str) -> str:
    return next(ln for ln in (data_dir / CONTENT_MANIFEST_NAME).read_text().splitlines() if ln.endswith("  " + name))


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()
