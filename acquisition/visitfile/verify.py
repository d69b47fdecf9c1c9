"""Check a visit file: schema, name, per-stream sample counts, block digests and the content digest tree (and, at
seal, the stream contents against the journal).

Verification reads the file low-level on purpose (h5py directly, every access guarded): it must go on through
damage that the reader (`reader/`) would refuse at once. What both say, they say with the same helpers
(`name_problem`, `schema_problem`).

Every problem is one line naming the object (and for stream samples the block and its rows), and a damaged file
never raises here: `verify` goes on with the rest of the file and the next file. The file checks itself: the
content digest tree (`content_digest.py`) covers every dataset and attribute, so an edit anywhere fails even when
the manifest line was recomputed to match; the manifests (`manifest.py`) then catch a file whose digests were all
recomputed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from pydantic import BaseModel, Field

from acquisition.visitfile.block_hash import BlockResult, Task, hash_all
from acquisition.visitfile.content_digest import compare_trees, digest_tree, error_text
from acquisition.visitfile.digest import root_of
from acquisition.visitfile.journal_ledger import damage_items
from acquisition.visitfile.reader import name_problem, schema_problem
from acquisition.visitfile.schema import GROUPS, ROOT_ATTRS, STATES, STREAM_DATASETS
from acquisition.visitfile.writer import StreamTally

#: below this many bytes to re-read, verification stays in this process (a worker costs ~0.5 s to start)
PARALLEL_MIN_BYTES = 64 * 1024 * 1024

#: block problems listed per dataset before the rest are counted in one line
MAX_BLOCK_LINES = 8


class StreamCheck(BaseModel):
    name: str
    n_samples: int
    ok: bool
    blocks: int = 0


class VerifyReport(BaseModel):
    path: str
    ok: bool
    problems: list[str] = Field(default_factory=list)
    streams: list[StreamCheck] = Field(default_factory=list)
    schema_version: int | None = None
    subject: str | None = None
    visit: str | None = None
    block_digests: int = Field(0, description="stream block digests recomputed that match the recorded ones")
    tree_objects: int = Field(0, description="groups and datasets in the recomputed content digest tree")
    tree_attrs: int = Field(0, description="attributes in the recomputed content digest tree")
    content_root: str | None = Field(None, description="the recomputed content_sha256, when it matches the stored")
    qc_failures: list[str] = Field(default_factory=list, description=(
        "what the file's own QC says failed when it was built (`qc/journal_damage`: records its journal lost or "
        "repaired). Not a problem of the file (it may be intact, `ok` ignores it), but a data manager must look"))


class _Plan(BaseModel):
    """What the re-read of a stream's blocks is compared with."""

    name: str
    n: int
    rows: int = 0
    table: list[list[bytes]] = Field(default_factory=list)  # [block][dataset] -> 32 bytes
    roots: dict[str, Any] = Field(default_factory=dict)  # the `sha256` attribute
    ok: bool = True


def _plain(v: Any) -> Any:
    """A value as a person reads it: numpy scalars as Python numbers (`3`, not `np.int64(3)`)."""
    return v.item() if isinstance(v, np.generic) else v


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _guarded(problems: list[str], what: str, fn: Callable[[], None]) -> None:
    """Run one group of checks; damage they trip over is one more problem line, never an exception."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, ValueError ... on damaged files
        problems.append(f"{what}: cannot be checked ({error_text(exc)})")


def _root_checks(f: h5py.File, path: Path, require_sealed: bool, problems: list[str], rep: VerifyReport) -> None:
    try:
        names = list(f.attrs.keys())
    except Exception as exc:  # noqa: BLE001 - a damaged root object header
        problems.append(f"root attributes cannot be listed ({error_text(exc)})")
        names = list(ROOT_ATTRS)
    attrs: dict[str, Any] = {}
    for n in names:
        try:
            attrs[n] = f.attrs[n]
        except Exception:  # noqa: BLE001 - named by the digest tree ("/: attribute ... cannot be read")
            pass
    version = attrs.get("schema_version")
    if isinstance(version, (int, np.integer)):
        rep.schema_version = int(version)
    if "schema_version" in attrs:  # missing: reported with the other attributes
        if (p := schema_problem(version, verb="checks")) is not None:
            problems.append(p)
    for g in GROUPS:
        if g not in f:
            problems.append(f"group /{g} is missing")
    for a in ROOT_ATTRS:
        if a not in names:
            problems.append(f"root attribute {a!r} is missing")
    if require_sealed and "state" in attrs and attrs["state"] not in STATES:
        problems.append(f"state is {_plain(attrs.get('state'))!r}, expected one of {STATES}")
    subject, visit = attrs.get("subject"), attrs.get("visit")
    if isinstance(subject, str) and isinstance(visit, str):
        rep.subject, rep.visit = subject, visit
        if (p := name_problem(path, subject, visit, partial_ok=True)) is not None:
            problems.append(p)


def _plan_stream(g: h5py.Group, name: str, problems: list[str], tasks: list[Task], weights: list[int]) -> _Plan:
    """Check a stream's structure and queue its blocks for re-hashing."""
    where = f"/streams/{name}"
    missing = [ds for ds in STREAM_DATASETS if ds not in g]
    for ds in missing:
        problems.append(f"{where}/{ds} is missing")
    if missing:
        return _Plan(name=name, n=-1, ok=False)
    plan = _Plan(name=name, n=int(g["data"].shape[0]))
    lens = {g[ds].shape[0] for ds in STREAM_DATASETS}
    if len(lens) != 1:
        problems.append(f"{where}: data, device_seq and t_lsl have different lengths {sorted(lens)}")
        plan.ok = False
    if int(g.attrs.get("n_samples", -1)) != plan.n:
        problems.append(f"{where}: n_samples attribute {g.attrs.get('n_samples')} != {plan.n} rows")
        plan.ok = False
    try:
        plan.roots = dict(json.loads(_text(g.attrs["sha256"])))
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{where}: the sha256 attribute is missing or not JSON ({error_text(exc)})")
        plan.ok = False
    if "digests" not in g:
        problems.append(f"{where}/digests is missing")
        plan.ok = False
        return plan
    table = g["digests"]
    rows = int(table.attrs["block_rows"])
    n_blocks = -(-plan.n // rows) if rows > 0 else -1
    if rows <= 0 or table.shape != (n_blocks, len(STREAM_DATASETS), 32):
        problems.append(f"{where}/digests has shape {table.shape} (block_rows {rows}), expected "
                        f"({n_blocks}, {len(STREAM_DATASETS)}, 32)")
        plan.ok = False
        return plan
    if len(lens) != 1:
        return plan
    arr = table[:]
    plan.rows = rows
    plan.table = [[arr[i, j].tobytes() for j in range(len(STREAM_DATASETS))] for i in range(n_blocks)]
    row_bytes = int(np.prod(g["data"].shape[1:], dtype=np.int64)) * g["data"].dtype.itemsize + 16
    for i in range(n_blocks):
        tasks.append((name, i, rows))
        weights.append(min(rows, plan.n - i * rows) * row_bytes)
    return plan


def _tree_checks(f: h5py.File, problems: list[str], rep: VerifyReport) -> None:
    tree = digest_tree(f)
    problems.extend(tree.problems)
    rep.tree_objects, rep.tree_attrs = len(tree.nodes), tree.n_attrs
    stored = f.attrs.get("content_sha256") if "content_sha256" in f.attrs else None
    if tree.root is None:
        problems.append(f"content digest tree cannot be recomputed: {len(tree.unreadable)} object(s) unreadable")
        return
    if stored is None:
        return  # reported as a missing root attribute
    if tree.root == stored:
        rep.content_root = tree.root
        try:
            recorded = json.loads(_text(f.attrs["content_digests"]))
            same = {k: tuple(v) for k, v in recorded.items()} == tree.nodes
        except Exception:  # noqa: BLE001 - a damaged or edited detail table
            same = False
        if not same:
            problems.append("content_digests attribute does not match the file (content_sha256 does): the "
                            "recorded digest tree was altered")
        return
    problems.append(f"content_sha256: the file's content gives {tree.root[:16]}..., the file records "
                    f"{_text(stored)[:16]}...: its content changed after it was written")
    try:
        recorded = {k: (str(v[0]), str(v[1])) for k, v in json.loads(_text(f.attrs["content_digests"])).items()}
    except Exception as exc:  # noqa: BLE001
        problems.append(f"content_digests attribute cannot be read ({error_text(exc)}): the changed object "
                        "cannot be named")
        return
    problems.extend(compare_trees(recorded, tree))


def _block_lines(plan: _Plan, j: int, results: list[BlockResult]) -> tuple[list[str], int]:
    """Problem lines of one dataset's blocks, and how many of its blocks match."""
    ds = STREAM_DATASETS[j]
    bad: list[str] = []
    good = 0
    for i, res in enumerate(results):
        got = res[j]
        first, last = i * plan.rows, min(plan.n, (i + 1) * plan.rows) - 1
        where = f"/streams/{plan.name}/{ds} block {i} (rows {first}-{last})"
        if isinstance(got, str):
            bad.append(f"{where}: {got}")
        elif got != plan.table[i][j]:
            bad.append(f"{where}: does not match its recorded digest")
        else:
            good += 1
    if len(bad) > MAX_BLOCK_LINES:
        rest = len(bad) - MAX_BLOCK_LINES
        bad = bad[:MAX_BLOCK_LINES] + [f"/streams/{plan.name}/{ds}: {rest} more block(s) fail"]
    return bad, good


def verify_file(path: Path, *, expected: Mapping[str, StreamTally] | None = None,
                expected_events: int | None = None, require_sealed: bool = True,
                parallel: bool = True) -> VerifyReport:
    """Re-read `path` and check it. `expected` (from the journal) is given at seal time. Never raises on a
    damaged file."""
    path = Path(path)
    rep = VerifyReport(path=str(path), ok=False)
    problems = rep.problems
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - truncated file, damaged superblock, not HDF5 at all
        problems.append(f"not a readable HDF5 file ({error_text(exc)})")
        return rep
    tasks: list[Task] = []
    weights: list[int] = []
    plans: list[_Plan] = []
    with f:
        _guarded(problems, "root group", lambda: _root_checks(f, path, require_sealed, problems, rep))
        try:
            names = list(f["streams"]) if "streams" in f else []
        except Exception as exc:  # noqa: BLE001
            problems.append(f"/streams cannot be listed ({error_text(exc)})")
            names = []
        if expected is not None:
            for name in sorted(set(expected) - set(names)):
                problems.append(f"stream {name!r} is in the journal but not in the file")
        for name in names:
            try:
                plans.append(_plan_stream(f["streams"][name], name, problems, tasks, weights))
            except Exception as exc:  # noqa: BLE001
                problems.append(f"/streams/{name}: cannot be checked ({error_text(exc)})")
                plans.append(_Plan(name=name, n=-1, ok=False))
        try:
            if "events" in f and "table" in f["events"]:
                n_ev = f["events"]["table"].shape[0]
                if int(f.attrs.get("n_events", -1)) != n_ev:
                    problems.append(f"/events: {n_ev} rows, n_events attribute says {f.attrs.get('n_events')}")
                if expected_events is not None and n_ev != expected_events:
                    problems.append(f"/events: {n_ev} rows in the file, {expected_events} in the journal")
            elif require_sealed:
                problems.append("/events/table is missing")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"/events: cannot be checked ({error_text(exc)})")
        _guarded(problems, "content digest tree", lambda: _tree_checks(f, problems, rep))
        _guarded(problems, "/qc", lambda: _qc_checks(f, problems, rep))
    # the file is closed: re-read every block (in two processes when it is big) and compare
    computed = hash_all(str(path), tasks, weights, parallel=parallel, min_parallel_bytes=PARALLEL_MIN_BYTES)
    for plan in plans:
        if not plan.table:
            rep.streams.append(StreamCheck(name=plan.name, n_samples=plan.n, ok=False))
            continue
        results = [computed[(plan.name, i)] for i in range(len(plan.table))]
        ok = plan.ok
        for j, ds in enumerate(STREAM_DATASETS):
            lines, good = _block_lines(plan, j, results)
            problems.extend(lines)
            rep.block_digests += good
            ok = ok and not lines
            if plan.roots.get(ds) != root_of([blk[j] for blk in plan.table]):
                problems.append(f"/streams/{plan.name}/{ds}: the root digest in the sha256 attribute does not "
                                "match its digests table")
                ok = False
        if expected is not None and plan.name in expected and ok:
            tally = expected[plan.name]
            if tally.n != plan.n:
                problems.append(f"/streams/{plan.name}: {plan.n} samples in the file, {tally.n} in the journal")
                ok = False
            journal = tally.block_digests()
            if any(journal[ds] != [r[j] for r in results] for j, ds in enumerate(STREAM_DATASETS)):
                problems.append(f"/streams/{plan.name}: content differs from the journal")
                ok = False
        rep.streams.append(StreamCheck(name=plan.name, n_samples=plan.n, ok=ok, blocks=len(plan.table)))
    rep.ok = not problems
    return rep


def _qc_checks(f: h5py.File, problems: list[str], rep: VerifyReport) -> None:
    """`qc/journal_damage`: a file built from a damaged journal says so, and verify must repeat it."""
    if "qc" not in f or "journal_damage" not in f["qc"].attrs:
        return
    raw = f["qc"].attrs["journal_damage"]
    try:
        entry = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError as exc:
        problems.append(f"/qc: the journal_damage attribute is not JSON ({error_text(exc)})")
        return
    if not isinstance(entry, dict):
        problems.append(f"/qc: the journal_damage attribute is a {type(entry).__name__}, expected an object")
        return
    rep.qc_failures = damage_items(entry)


def sealed_file_problems(path: Path) -> list[str]:
    """What the seal promises of the file itself: read-only, and one name only (no second hard link left by an
    interrupted seal, e.g. in `.sealed-journals/`, through which the bytes could still be changed)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return [f"cannot be examined ({error_text(exc)})"]
    out: list[str] = []
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o222:
        out.append(f"is writable (mode {mode:04o}): a sealed visit file is read-only (0444)")
    if st.st_nlink > 1:
        out.append(f"has {st.st_nlink} hard links: a sealed visit file has one name only (an interrupted seal "
                   "leaves a second one, e.g. in .sealed-journals/; `amuse-acq recover` finishes it)")
    return out
