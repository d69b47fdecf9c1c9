"""`VisitSummary`: everything `compare` looks at in a visit file, as keyed text, and only that.

Why text: a golden visit file's summary (`describe_visit`) is checked in beside it, so a change shows in review as
a plain text diff, and `compare_visits` reports differences in the same words.

What is looked at (docs/replay.md, "What compare looks at"), and why each exclusion:
- the visit: `schema_version`, `site`, `simulated`. Not the identity (`subject`, `visit`, `operator`: a replay
  may be recorded under another), not `software_version` (replaying with a new version is the point), not the
  UTC wall times (`started_utc`, `closed_utc`, every event's `utc`: when it ran, not what was recorded), not
  `state`, `config` (the settings of that run), `boot_id`, `started_t_lsl` (the session's own clock reading at
  open, taken just before `visit.opened`; the replay opens at the original's `visit.opened`), `n_events`
  (counts `clock.pair`), `replay_of`, nor the digest tree's own attributes;
- per stream: its `StreamSpec` without `device.transport` (a replay's says it is one: `replay sha256:...`),
  the number of samples, dtype and channels, the SHA-256 of the bytes of `data`, `device_seq`, `t_lsl` and
  `t_read` (or that it has none), and every gap (after_seq, missing, t_before, t_after);
- per scan: its attributes as stored, and per dataset its dtype, shape and SHA-256;
- calibration records, outcome rows;
- QC: every entry of `/qc` but the named exclusions, so that an entry added later is compared rather than
  silently skipped: per stream (expected, received, missing, windows, stalls), per source the counters without
  the session reader's own `read_errors` and `chunks_rejected` (a replay's reads do not fail: the original's
  failures come back as their events), any other entry as a whole; not `journal_damage*` (about that run's
  journal);
- events, one line each, sorted by time (journal order between threads is not deterministic): time on the LSL
  clock (exact, `repr`), kind, name, stream, step, repetition (its own, or that of the step interval it falls in)
  and payload (JSON, sorted keys), except: `clock.pair` events (they pair that run's clock with the wall clock,
  and their number follows its wall-clock duration); in `visit.opened` the identity keys; in `source.started`
  each device's `transport`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.events import Event
from acquisition.visitfile.reader import StreamView, VisitFile

__all__ = ["STREAM_ARRAYS", "EventLine", "VisitSummary", "array_rows", "open_for_compare", "summarise"]

#: bytes of one stream dataset read at once while hashing
_BLOCK_BYTES = 16 * 1024 * 1024
_IDENTITY_PAYLOAD = ("subject", "visit", "operator")
_READER_COUNTERS = ("read_errors", "chunks_rejected")
#: `/qc` entries not compared (by prefix): the journal's own damage report of that run
_QC_NOT_COMPARED = ("journal_damage",)
STREAM_ARRAYS = ("data", "device_seq", "t_lsl", "t_read")


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str, separators=(",", ":"))


@dataclass(frozen=True, order=True)
class EventLine:
    """One event as compared: sortable by time, then by its text."""

    t: float
    text: str
    step: str = field(compare=False)


@dataclass
class VisitSummary:
    visit: dict[str, str] = field(default_factory=dict)
    streams: dict[str, dict[str, str]] = field(default_factory=dict)
    scans: dict[str, dict[str, str]] = field(default_factory=dict)
    calibration: dict[str, str] = field(default_factory=dict)
    outcomes: list[str] = field(default_factory=list)
    qc: dict[str, str] = field(default_factory=dict)
    events: list[EventLine] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The deterministic text form (`describe_visit`)."""
        out = [f"visit {k}: {v}" for k, v in sorted(self.visit.items())]
        for name in sorted(self.streams):
            out += [f"stream {name} {k}: {v}" for k, v in self.streams[name].items()]
        for sid in sorted(self.scans):
            out += [f"scan {sid} {k}: {v}" for k, v in self.scans[sid].items()]
        out += [f"calibration {k}: {v}" for k, v in sorted(self.calibration.items())]
        out += [f"outcome {r}" for r in self.outcomes]
        out += [f"qc {k}: {v}" for k, v in sorted(self.qc.items())]
        out += [f"event {e.text}" for e in self.events]
        return out


def summarise(vf: VisitFile) -> VisitSummary:
    s = VisitSummary()
    ident = vf.identity
    s.visit = {"schema_version": str(ident.schema_version), "site": ident.site, "simulated": str(ident.simulated)}
    for name in vf.streams:
        s.streams[name] = _stream(vf.streams[name])
    for sid in vf.scans:
        v = vf.scans[sid]
        entry = {"attrs": _json(v.stored_attrs)}
        for d in v.datasets:
            a = np.ascontiguousarray(v.array(d))
            entry[f"dataset {d}"] = f"{a.dtype} {list(a.shape)} sha256 {hashlib.sha256(a.tobytes()).hexdigest()}"
        s.scans[sid] = entry
    s.calibration = {r.id: _json(r.model_dump(exclude_unset=True)) for r in vf.calibration}
    s.outcomes = [f"{o.step} {o.metric} {o.value!r} {o.unit} {o.method}" for o in vf.outcomes]
    s.qc = _qc(vf.qc)
    s.events = _events(vf)
    return s


def _qc(qc: dict[str, Any]) -> dict[str, str]:
    """Every `/qc` entry but `_QC_NOT_COMPARED`: `streams` and `sources` one line per stream and per source (the
    sources without `_READER_COUNTERS`), any other entry one line."""
    out = {}
    for key, value in sorted(qc.items()):
        if key.startswith(_QC_NOT_COMPARED):
            continue
        if key == "streams" and isinstance(value, dict):
            out.update({f"stream {name}": _json(q) for name, q in sorted(value.items())})
        elif key == "sources" and isinstance(value, dict):
            out.update({f"source {name}": _json({k: v for k, v in c.items() if k not in _READER_COUNTERS}
                                                if isinstance(c, dict) else c) for name, c in sorted(value.items())})
        else:
            out[key] = _json(value)
    return out


# -- streams --------------------------------------------------------------------------------------------------
def array_rows(view: StreamView, which: str, *, block_bytes: int = _BLOCK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) of one dataset of a stream, block by block (None-free: a stream without `t_read` gives
    nothing for it)."""
    n = view.n_samples
    row_bytes = view.spec.n_channels * view.spec.np_dtype.itemsize if which == "data" else 8
    step = max(4096, block_bytes // max(1, row_bytes))
    for a in range(0, n, step):
        b = min(n, a + step)
        if which == "data":
            rows: np.ndarray | None = view.read(a, b)
        elif which == "device_seq":
            rows = view.device_seq(a, b)
        elif which == "t_lsl":
            rows = view.t_lsl(a, b)
        else:
            rows = view.t_read(a, b)
        if rows is None:
            return
        yield a, np.ascontiguousarray(rows)


def _stream(view: StreamView) -> dict[str, str]:
    spec = json.loads(view.spec.model_dump_json())
    spec["device"].pop("transport", None)
    out = {"spec": _json(spec),
           "samples": f"{view.n_samples} x {view.spec.n_channels} {view.spec.dtype}"}
    for which in STREAM_ARRAYS:
        if which == "t_read" and not view.has_t_read:
            out[which] = "none"
            continue
        h = hashlib.sha256()
        for _, rows in array_rows(view, which):
            h.update(rows.tobytes())
        out[which] = f"sha256 {h.hexdigest()}"
    gaps = view.gaps
    out["gaps"] = f"{len(gaps)}, {sum(g.missing for g in gaps)} samples missing"
    for i, g in enumerate(gaps):
        out[f"gap {i}"] = f"after_seq {g.after_seq} missing {g.missing} t_before {g.t_before!r} t_after {g.t_after!r}"
    return out


# -- events ---------------------------------------------------------------------------------------------------
def _events(vf: VisitFile) -> list[EventLine]:
    events = vf.events()
    spans = vf.step_intervals()
    out = []
    for e in events:
        if (e.kind, e.name) == ("clock", "clock.pair"):
            continue
        out.append(EventLine(e.t_lsl, _event_text(e, _repetition(e, spans)), e.step))
    return sorted(out)


def _repetition(e: Event, spans: list[tuple[str, int, float, float]]) -> int | None:
    own = e.payload.get("repetition")
    if isinstance(own, int) and not isinstance(own, bool):
        return own
    return next((r for s, r, t0, t1 in spans if s == e.step and t0 <= e.t_lsl < t1), None)


def _event_text(e: Event, rep: int | None) -> str:
    payload = dict(e.payload)
    if (e.kind, e.name) == ("visit_open", "visit.opened"):
        payload = {k: v for k, v in payload.items() if k not in _IDENTITY_PAYLOAD}
    elif (e.kind, e.name) == ("device", "source.started") and isinstance(payload.get("devices"), list):
        payload["devices"] = [{k: v for k, v in d.items() if k != "transport"} if isinstance(d, dict) else d
                              for d in payload["devices"]]
    return (f"t={e.t_lsl!r} {e.kind} {e.name} stream={e.stream} step={e.step} rep={'' if rep is None else rep} "
            f"payload={_json(payload)}")


def open_for_compare(path: Path) -> VisitFile:
    """A sealed file whose content digest tree checks (`verify="quick"`): an altered file is refused, not compared."""
    return VisitFile.open(path, require_sealed=True, verify="quick")
