"""Check a visit file: schema, per-stream sample counts and content hashes (and, at seal, against the journal)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np
from pydantic import BaseModel, Field

from acquisition.visitfile.schema import GROUPS, ROOT_ATTRS, SCHEMA_VERSION, STATES, STREAM_DATASETS
from acquisition.visitfile.digest import root_of
from acquisition.visitfile.writer import StreamTally

#: below this many bytes to re-read, verification stays in this process (a worker costs ~0.5 s to start)
PARALLEL_MIN_BYTES = 64 * 1024 * 1024

Task = tuple[str, int, int]  # (stream, block index, block_rows)


class StreamCheck(BaseModel):
    name: str
    n_samples: int
    ok: bool


class VerifyReport(BaseModel):
    path: str
    ok: bool
    problems: list[str] = Field(default_factory=list)
    streams: list[StreamCheck] = Field(default_factory=list)


def hash_blocks(path: str, tasks: list[Task]) -> dict[tuple[str, int], list[bytes]]:
    """SHA-256 of the rows of each (stream, block) of `data`, `device_seq`, `t_lsl`, re-read from the file."""
    out: dict[tuple[str, int], list[bytes]] = {}
    with h5py.File(path, "r") as f:
        for name, i, rows in tasks:
            g = f["streams"][name]
            sl = slice(i * rows, (i + 1) * rows)
            out[(name, i)] = [hashlib.sha256(np.ascontiguousarray(g[ds][sl]).data).digest() for ds in STREAM_DATASETS]
    return out


def _hash_all(path: Path, tasks: list[Task], weights: list[int], parallel: bool) -> dict[tuple[str, int], list[bytes]]:
    """Hash every block; with `parallel` and enough bytes, half of them in a worker process (2 cores here)."""
    if not parallel or sum(weights) < PARALLEL_MIN_BYTES or (os.cpu_count() or 1) < 2 or len(tasks) < 2:
        return hash_blocks(str(path), tasks)
    # greedy split into two halves of about equal bytes
    mine: list[Task] = []
    theirs: list[Task] = []
    a = b = 0
    for task, w in sorted(zip(tasks, weights), key=lambda tw: -tw[1]):
        if a <= b:
            mine.append(task)
            a += w
        else:
            theirs.append(task)
            b += w
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        fut = pool.submit(hash_blocks, str(path), theirs)
        out = hash_blocks(str(path), mine)
        out.update(fut.result())
    return out


def verify_file(path: Path, *, expected: Mapping[str, StreamTally] | None = None,
                expected_events: int | None = None, require_sealed: bool = True,
                parallel: bool = True) -> VerifyReport:
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
        tasks: list[Task] = []
        weights: list[int] = []
        stored_tables: dict[str, np.ndarray] = {}
        block_rows: dict[str, int] = {}
        stored_roots = {name: json.loads(streams[name].attrs.get("sha256", "{}")) for name in streams}
        pending: dict[str, bool] = {}
        sizes: dict[str, int] = {}
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
            if "digests" not in g:
                problems.append(f"/streams/{name}/digests is missing")
                ok = False
            if ok:
                rows = int(g["digests"].attrs["block_rows"])
                n_blocks = -(-n // rows)
                if g["digests"].shape != (n_blocks, 3, 32):
                    problems.append(f"/streams/{name}/digests has shape {g['digests'].shape}, expected ({n_blocks}, 3, 32)")
                    ok = False
                else:
                    row_bytes = int(np.prod(g["data"].shape[1:], dtype=np.int64)) * g["data"].dtype.itemsize + 16
                    for i in range(n_blocks):
                        tasks.append((name, i, rows))
                        weights.append(min(rows, n - i * rows) * row_bytes)
                    stored_tables[name] = g["digests"][:]
                    block_rows[name] = rows
            pending[name] = ok
            sizes[name] = n
        if "events" in f and "table" in f["events"]:
            n_ev = f["events"]["table"].shape[0]
            if int(f.attrs.get("n_events", -1)) != n_ev:
                problems.append(f"/events: {n_ev} rows, n_events attribute says {f.attrs.get('n_events')}")
            if expected_events is not None and n_ev != expected_events:
                problems.append(f"/events: {n_ev} rows in the file, {expected_events} in the journal")
        elif require_sealed:
            problems.append("/events/table is missing")
    # the file is closed: re-read every block (in two processes when it is big) and compare
    computed = _hash_all(path, tasks, weights, parallel)
    for name, ok in pending.items():
        if name not in stored_tables:
            checks.append(StreamCheck(name=name, n_samples=sizes[name], ok=False))
            continue
        table = stored_tables[name]
        blocks = {ds: [computed[(name, i)][j] for i in range(table.shape[0])] for j, ds in enumerate(STREAM_DATASETS)}
        for j, ds in enumerate(STREAM_DATASETS):
            bad = [i for i in range(table.shape[0]) if bytes(table[i, j]) != blocks[ds][i]]
            if bad:
                problems.append(f"/streams/{name}/{ds}: rows from {bad[0] * block_rows[name]} (block(s) {bad[:5]}) do not match "
                                "their recorded digest")
                ok = False
            if stored_roots[name].get(ds) != root_of(blocks[ds]):
                problems.append(f"/streams/{name}/{ds}: content hash does not match the recorded one")
                ok = False
        if expected is not None and name in expected:
            tally = expected[name]
            if tally.n != sizes[name]:
                problems.append(f"/streams/{name}: {sizes[name]} samples in the file, {tally.n} in the journal")
                ok = False
            if tally.block_digests() != blocks:
                problems.append(f"/streams/{name}: content differs from the journal")
                ok = False
        checks.append(StreamCheck(name=name, n_samples=sizes[name], ok=ok))
    return VerifyReport(path=str(path), ok=not problems, problems=problems, streams=checks)
