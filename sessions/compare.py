"""`compare_visits(a, b)` and `describe_visit(path)`: are two visit files the same recording? (`amuse-acq compare A
B`, `amuse-acq replay FILE --into DIR --compare`, the golden visits of CI.)

What is compared, and what is not and why, is `sessions.visit_summary`'s docstring (and docs/replay.md): in short,
every sample, sequence number, time stamp and gap, every scan, calibration record, outcome, QC count and event,
but not who and when (identity, UTC wall times, software version, settings of the run, the replay's marking and
its device transport, `clock.pair`).

Differences are human-readable lines grouped per stream (then per scan, per QC entry) and per step, in the order
of the file's content; for sample arrays whose hashes differ, the first row that differs is named.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acquisition.visitfile.reader import StreamView
from sessions.visit_summary import STREAM_ARRAYS, VisitSummary, array_rows, open_for_compare, summarise

__all__ = ["VisitComparison", "compare_visits", "describe_visit"]

#: differing event lines listed per step before the rest are counted
MAX_EVENT_LINES = 20


@dataclass(frozen=True)
class VisitComparison:
    """The result of `compare_visits`: `identical`, else `differences` (one line each, A is the first file)."""

    a: Path
    b: Path
    identical: bool
    differences: list[str]


def describe_visit(path: Path) -> list[str]:
    """Everything `compare_visits` looks at in `path`, one deterministic line each (a golden's text form)."""
    with open_for_compare(Path(path)) as vf:
        return summarise(vf).lines()


def compare_visits(a: Path, b: Path) -> VisitComparison:
    """Compare the sealed visit files `a` and `b` (each checked against its own content digest first)."""
    a, b = Path(a), Path(b)
    with open_for_compare(a) as va, open_for_compare(b) as vb:
        sa, sb = summarise(va), summarise(vb)
        diffs = _keyed("visit", {"": sa.visit}, {"": sb.visit})
        for name in _names(sa.streams, sb.streams):
            lines = _keyed(f"stream {name}", {name: sa.streams.get(name)}, {name: sb.streams.get(name)})
            if lines and name in sa.streams and name in sb.streams:
                lines += _first_rows(name, va.streams[name], vb.streams[name], sa, sb)
            diffs += lines
        for sid in _names(sa.scans, sb.scans):
            diffs += _keyed(f"scan {sid}", {sid: sa.scans.get(sid)}, {sid: sb.scans.get(sid)})
        diffs += _flat("calibration", sa.calibration, sb.calibration)
        diffs += _outcomes(sa.outcomes, sb.outcomes)
        diffs += _flat("qc", sa.qc, sb.qc)
        diffs += _events(sa, sb)
    return VisitComparison(a=a, b=b, identical=not diffs, differences=diffs)


def _outcomes(x: list[str], y: list[str]) -> list[str]:
    """Rows in one file only, rows held a different number of times, or else (same rows, same counts) the order."""
    if x == y:
        return []
    cx, cy = Counter(x), Counter(y)
    out = []
    for r in _names(dict(cx), dict(cy)):
        if r not in cy or r not in cx:
            out.append(f"outcomes: only in {'A' if r in cx else 'B'}: {r}")
        elif cx[r] != cy[r]:
            out.append(f"outcomes: {r} is {cx[r]} time(s) in A, {cy[r]} in B")
    return out or ["outcomes: the same rows, each as many times, in a different order"]


def _names(x: dict[str, object], y: dict[str, object]) -> list[str]:
    return [*x, *(k for k in y if k not in x)]


def _keyed(label: str, x: dict[str, dict[str, str] | None], y: dict[str, dict[str, str] | None]) -> list[str]:
    (ex,), (ey,) = x.values(), y.values()
    if ex is None or ey is None:
        return [f"{label}: only in {'B' if ex is None else 'A'}"]
    out = []
    for k in _names(ex, ey):
        va, vb = ex.get(k), ey.get(k)
        if va != vb:
            out.append(f"{label}{' ' + k if k else ''}: A {va if va is not None else '(none)'} | "
                       f"B {vb if vb is not None else '(none)'}")
    return out


def _flat(label: str, x: dict[str, str], y: dict[str, str]) -> list[str]:
    out = []
    for k in _names(x, y):
        if x.get(k) != y.get(k):
            out.append(f"{label} {k}: A {x.get(k, '(none)')} | B {y.get(k, '(none)')}")
    return out


def _first_rows(name: str, va: StreamView, vb: StreamView, sa: VisitSummary, sb: VisitSummary) -> list[str]:
    """For each sample array whose hash differs, the first row where the two files differ."""
    out = []
    for which in STREAM_ARRAYS:
        if sa.streams[name].get(which) == sb.streams[name].get(which) or "none" in (
                sa.streams[name].get(which), sb.streams[name].get(which)):
            continue
        row = _first_difference(va, vb, which)
        if row is not None:
            out.append(f"stream {name} {which}: first difference at row {row} (A has {va.n_samples} rows, "
                       f"B {vb.n_samples})")
    return out


def _first_difference(va: StreamView, vb: StreamView, which: str) -> int | None:
    """The first row whose bytes differ (NaN stamps compare by their bits), or where one file ends."""
    ib, rows_b = array_rows(vb, which), np.empty(0)
    start_b = 0
    for start, rows_a in array_rows(va, which):
        while start_b + len(rows_b) <= start:
            nxt = next(ib, None)
            if nxt is None:
                return start
            start_b, rows_b = nxt
        # blocks have the same row count for the same spec; if not, fall back to the overlapping rows
        i0 = start - start_b
        k = min(len(rows_a), len(rows_b) - i0)
        if rows_a.dtype != rows_b.dtype or rows_a.shape[1:] != rows_b.shape[1:]:
            return start
        xa = rows_a[:k].reshape(k, -1).view(np.uint8).reshape(k, -1)
        xb = np.ascontiguousarray(rows_b[i0:i0 + k]).reshape(k, -1).view(np.uint8).reshape(k, -1)
        bad = np.flatnonzero((xa != xb).any(axis=1))
        if bad.size:
            return start + int(bad[0])
        if k < len(rows_a):
            return start + k
    return None if va.n_samples == vb.n_samples else min(va.n_samples, vb.n_samples)


def _events(sa: VisitSummary, sb: VisitSummary) -> list[str]:
    """Event lines in one file and not the other (as multisets), grouped by step in order of first appearance."""
    ca, cb = Counter(e.text for e in sa.events), Counter(e.text for e in sb.events)
    if ca == cb:
        return []
    only_a, only_b = ca - cb, cb - ca
    steps: dict[str, list[tuple[float, str, str]]] = {}
    for side, events, only in (("A", sa.events, only_a), ("B", sb.events, only_b)):
        left = Counter(only)
        for e in events:
            if left[e.text] > 0:
                left[e.text] -= 1
                steps.setdefault(e.step, []).append((e.t, side, e.text))
    out = []
    for step, found in steps.items():
        label = f"step {step}" if step else "outside any step"
        shown = [f"only in {side}: {text}" for _, side, text in sorted(found)]
        out += [f"{label}: {line}" for line in shown[:MAX_EVENT_LINES]]
        if len(shown) > MAX_EVENT_LINES:
            out.append(f"{label}: ... and {len(shown) - MAX_EVENT_LINES} more differing events")
    return out
