"""Human summary of a visit file: identity, streams (samples, duration, rate), gaps, QC, scans, events, and the
result of verifying it.

Everything is read through the one reader (`acquisition.visitfile.reader`), opened `lenient` (a diagnostic tool
shows what a file holds even when it would refuse to trust it) and probed in a child process first (a file that
hangs HDF5 is one error line, not a hung terminal). A visit file can be damaged (a flipped bit in a chunk, a
truncated copy) or carry hostile strings (a site code with terminal escape codes): each section of the summary is
read on its own and a section that cannot be read says so in its line; every line is escaped before it is
printed; and `inspect_file` verifies the whole file (every block of every stream, the content digest tree), so
damage that the summary does not read is still reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from acquisition.visitfile.content_digest import error_text
from acquisition.visitfile.reader import VisitFile, VisitFileError
from acquisition.visitfile.verify import verify_file
from sessions.cli_args import one_line

_WIDE = 2000  # escape, but do not cut, the lines printed


def _section(out: list[str], label: str, fn: Callable[[], None]) -> None:
    """Run one section of the summary; if the file cannot give it, one line says so and the rest goes on."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - damaged files raise anything from h5py / json
        out.append(f"  {label}: cannot be read ({error_text(exc)})")


def _identity(vf: VisitFile, out: list[str]) -> None:
    a = vf.identity
    out.append(f"visit file {vf.path.name}  schema v{a.schema_version}  state {a.state}  simulated={a.simulated}")
    out.append(f"  subject {a.subject}  visit {a.visit}  site {a.site}  operator {a.operator}")
    out.append(f"  started {a.started_utc}  closed {a.closed_utc}  software {a.software_version}")
    if a.replay_of is not None:  # said on a line of its own: a replay must never be read as trial data
        out.append(f"  REPLAY of {a.replay_of.label}: not trial data")


def _stream(vf: VisitFile, name: str, qc: dict[str, Any], out: list[str]) -> None:
    s = vf.streams[name]
    n = s.n_samples
    dur = float(s.t_lsl(n - 1, n)[0] - s.t_lsl(0, 1)[0]) if n > 1 else 0.0
    rate = (n - 1) / dur if dur > 0 else 0.0
    spec, dev = s.spec, s.spec.device
    q = qc.get(name, {})
    out.append(
        f"    {name:<14} {n:>9} samples  {dur:8.2f} s  {rate:8.2f} Hz (nominal {spec.nominal_rate:g})"
        f"  {spec.n_channels} ch {spec.dtype}  gaps {len(s.gaps)} (missing {s.samples_missing})"
        f"  {dev.model} s/n {dev.serial}{' [simulated]' if dev.simulated else ''}"
    )
    if q and q.get("expected_by_time"):
        out.append(f"    {'':<14} expected by time {q['expected_by_time']}, by sequence {q['expected_by_seq']}")


def _streams(vf: VisitFile, out: list[str]) -> None:
    qc: dict[str, Any] = {}
    _section(out, "qc streams", lambda: qc.update(vf.qc.get("streams", {})))
    out.append("  streams:")
    for name in vf.streams:
        _section(out, f"  {name}", lambda name=name: _stream(vf, name, qc, out))  # type: ignore[misc]


def _events(vf: VisitFile, out: list[str], listing: bool) -> None:
    evs = vf.events()
    kinds: dict[str, int] = {}
    dev_events: dict[str, int] = {}
    for e in evs:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
        if e.kind == "device":
            dev_events[e.name] = dev_events.get(e.name, 0) + 1
    out.append(f"  events: {len(evs)}  " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    if dev_events:
        out.append("  device events: " + ", ".join(f"{k} {v}" for k, v in sorted(dev_events.items())))
    if listing and "table" in vf.h5["events"]:
        out.append("  event list:")
        for e in evs:
            payload = json.dumps(e.payload, sort_keys=True, default=str)
            out.append(f"    {e.t_lsl:14.3f} {e.kind:<11} {e.name:<28} {e.step:<18} {payload[:80]}")


def _scans(vf: VisitFile, out: list[str]) -> None:
    if not vf.scans:
        return
    out.append(f"  scans: {len(vf.scans)}")
    for sid in vf.scans:
        scan = vf.scans[sid]
        m = scan.metrics
        parts = [f"{label} {m[key]:.1f} mm" for key, label in
                 (("aperture_mm", "aperture"), ("mouth_width_mm", "width"),
                  ("inner_perimeter_mm", "inner perimeter")) if m.get(key) is not None]
        out.append(f"    {sid:<22} {scan.n_vertices:>7} vertices  {scan.attrs.condition:<16} {', '.join(parts)}")


def _outcomes(vf: VisitFile, out: list[str]) -> None:
    rows = vf.outcomes
    if rows:
        out.append("  outcomes:")
        for r in rows:
            out.append(f"    {r.step:<20} {r.metric:<28} {r.value:10.3f} {r.unit}")


def _qc(vf: VisitFile, out: list[str]) -> None:
    qc = vf.qc
    for sname, counters in sorted(qc.get("sources", {}).items()):
        nonzero = {k: v for k, v in counters.items() if isinstance(v, (int, float)) and v and k != "samples"}
        if nonzero:
            out.append(f"  qc {sname}: " + ", ".join(f"{k}={v}" for k, v in sorted(nonzero.items())))
    damage = qc.get("journal_damage_bytes", {})
    hurt = {k: v for k, v in damage.items() if isinstance(v, (int, float)) and v}
    if hurt:
        out.append("  journal damage found when the file was built (bytes of damaged records skipped, never "
                   "accepted): " + ", ".join(f"{k} {v}" for k, v in sorted(hurt.items())))
    verdict = qc.get("journal_damage")
    if isinstance(verdict, dict) and not verdict.get("ok", True):
        out.append("  JOURNAL DAMAGE, QC FAILED: what the journal lost or repaired when the file was built")
        for label, key in (("lost", "lost_records"), ("repaired", "repaired"), ("problem", "problems")):
            for item in verdict.get(key) or []:
                out.append(f"    {label}: {item}")
        for log, n in sorted((verdict.get("rejected_records") or {}).items()):
            out.append(f"    rejected: {n} malformed or unknown record(s) in {log}")


def _summary(vf: VisitFile, events: bool) -> list[str]:
    out: list[str] = []
    _section(out, "identity", lambda: _identity(vf, out))
    _section(out, "streams", lambda: _streams(vf, out))
    _section(out, "events", lambda: _events(vf, out, events))
    _section(out, "scans", lambda: _scans(vf, out))
    _section(out, "outcomes", lambda: _outcomes(vf, out))
    _section(out, "qc", lambda: _qc(vf, out))
    return [one_line(line, _WIDE) for line in out]


def summary_lines(path: Path, *, events: bool = False) -> list[str]:
    """The summary, as escaped lines. Never raises on a damaged file: an unreadable part is one line saying so,
    a file that cannot be opened (or hangs HDF5) is one line."""
    try:
        vf = VisitFile.open(path, lenient=True)
    except VisitFileError as exc:
        return [one_line(f"visit file {exc}", _WIDE)]
    with vf:
        return _summary(vf, events)


class InspectResult(BaseModel):
    lines: list[str]
    ok: bool
    error: str | None = None  # one line when the file cannot be inspected at all


def inspect_file(path: Path, *, events: bool = False) -> InspectResult:
    """Summary and verification of one visit file (the manifests and the seal are `amuse-acq verify`'s)."""
    path = Path(path)
    try:
        vf = VisitFile.open(path, lenient=True)  # probed first: a file that hangs HDF5 never reaches verify
    except VisitFileError as exc:
        return InspectResult(lines=[], ok=False, error=one_line(str(exc), _WIDE))
    with vf:
        lines = _summary(vf, events)
    rep = verify_file(path)
    if rep.ok:
        lines.append(f"  verify: OK ({rep.block_digests} stream block digests and the digest tree of "
                     f"{rep.tree_objects} objects and {rep.tree_attrs} attributes recomputed and matched; "
                     f"content root {rep.content_root})")
    else:
        lines.append(f"  verify: FAILED: {len(rep.problems)} problem(s)")
        lines.extend(one_line(f"    FAILED  {path.name}: {p}", _WIDE) for p in rep.problems)
    return InspectResult(lines=lines, ok=rep.ok)
