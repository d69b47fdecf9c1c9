"""Check a visit file: schema, per-stream sample counts and content hashes (and, at seal, against the journal)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
from pydantic import BaseModel, Field

from acquisition.visitfile.schema import GROUPS, ROOT_ATTRS, SCHEMA_VERSION, STATES, STREAM_DATASETS
from acquisition.visitfile.writer import StreamTally

_BLOCK_BYTES = 32 * 1024 * 1024


class StreamCheck(BaseModel):
    name: str
    n_samples: int
    ok: bool


class VerifyReport(BaseModel):
    path: str
    ok: bool
    problems: list[str] = Field(default_factory=list)
    streams: list[StreamCheck] = Field(default_factory=list)


def _hash_dataset(ds: h5py.Dataset) -> str:
    h = hashlib.sha256()
    n = ds.shape[0]
    if n == 0:
        return h.hexdigest()
    row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
    chunk_rows = ds.chunks[0] if ds.chunks else 4096
    block = max(chunk_rows, (_BLOCK_BYTES // row_bytes) // chunk_rows * chunk_rows)
    for i in range(0, n, block):
        h.update(np.ascontiguousarray(ds[i : i + block]).data)
    return h.hexdigest()


def verify_file(path: Path, *, expected: Mapping[str, StreamTally] | None = None,
                expected_events: int | None = None, require_sealed: bool = True) -> VerifyReport:
    """Re-read `path` and check it. `expected` (from the journal) is given at seal time."""
    problems: list[str] = []
    checks: list[StreamCheck] = []
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        return VerifyReport(path=str(path), ok=False, problems=[f"not a readable HDF5 file: {exc}"])
    with f:
        if f.attrs.get("schema_version") != SCHEMA_VERSION:
            problems.append(f"schema_version is {f.attrs.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        for g in GROUPS:
            if g not in f:
                problems.append(f"group /{g} is missing")
        for a in ROOT_ATTRS:
            if a not in f.attrs:
                problems.append(f"root attribute {a!r} is missing")
        if require_sealed and f.attrs.get("state") not in STATES:
            problems.append(f"state is {f.attrs.get('state')!r}, expected one of {STATES}")
        streams = f["streams"] if "streams" in f else {}
        if expected is not None:
            missing = set(expected) - set(streams)
            for name in sorted(missing):
                problems.append(f"stream {name!r} is in the journal but not in the file")
        for name in streams:
            g = streams[name]
            ok = True
            lens = set()
            for ds_name in STREAM_DATASETS:
                if ds_name not in g:
                    problems.append(f"/streams/{name}/{ds_name} is missing")
                    ok = False
                else:
                    lens.add(g[ds_name].shape[0])
            if not ok:
                checks.append(StreamCheck(name=name, n_samples=-1, ok=False))
                continue
            if len(lens) != 1:
                problems.append(f"/streams/{name}: data, device_seq and t_lsl have different lengths {sorted(lens)}")
                ok = False
            n = g["data"].shape[0]
            if int(g.attrs.get("n_samples", -1)) != n:
                problems.append(f"/streams/{name}: n_samples attribute {g.attrs.get('n_samples')} != {n} rows")
                ok = False
            stored = json.loads(g.attrs.get("sha256", "{}"))
            actual = {ds_name: _hash_dataset(g[ds_name]) for ds_name in STREAM_DATASETS}
            for ds_name, digest in actual.items():
                if stored.get(ds_name) != digest:
                    problems.append(f"/streams/{name}/{ds_name}: content hash does not match the recorded one")
                    ok = False
            if expected is not None and name in expected:
                tally = expected[name]
                if tally.n != n:
                    problems.append(f"/streams/{name}: {n} samples in the file, {tally.n} in the journal")
                    ok = False
                if tally.digests() != actual:
                    problems.append(f"/streams/{name}: content differs from the journal")
                    ok = False
            checks.append(StreamCheck(name=name, n_samples=n, ok=ok))
        if "events" in f and "table" in f["events"]:
            n_ev = f["events"]["table"].shape[0]
            if int(f.attrs.get("n_events", -1)) != n_ev:
                problems.append(f"/events: {n_ev} rows, n_events attribute says {f.attrs.get('n_events')}")
            if expected_events is not None and n_ev != expected_events:
                problems.append(f"/events: {n_ev} rows in the file, {expected_events} in the journal")
        elif require_sealed:
            problems.append("/events/table is missing")
    return VerifyReport(path=str(path), ok=not problems, problems=problems, streams=checks)
