"""What `amuse-acq visits` prints: per subject one line per visit recording (state, start and close, where it
is, its window and whether it was in it), then one line per follow-up visit not recorded yet, with its window and
where today stands in it; or the same as one JSON object (`VisitsReport`, `--json`).
"""

from __future__ import annotations

import datetime as _dt

from pydantic import BaseModel, ConfigDict, Field

from acquisition.visit_window_config import VisitWindowSettings
from sessions.visit_list import VisitEntry, VisitList
from sessions.visit_windows import Window, local_date, parse_utc, window_for

__all__ = ["PendingVisit", "VisitsReport", "report_lines", "visits_report"]


class PendingVisit(BaseModel):
    """A follow-up visit of a subject with a sealed D0 that is not recorded yet, with its window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    visit: str
    window: Window
    status: str = Field(description="where `at` stands: 'window open', 'opens in N day(s)', 'closed N day(s) ago'")


class VisitsReport(BaseModel):
    """What `amuse-acq visits --json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: str
    timezone: str
    at_utc: str
    subjects: list[str]
    entries: list[VisitEntry]
    pending: list[PendingVisit]
    problems: list[str]


def _status(window: Window, today: _dt.date) -> str:
    if today < window.first:
        return f"opens in {(window.first - today).days} day(s)"
    if today > window.last:
        return f"closed {(today - window.last).days} day(s) ago"
    return f"window open, {(window.last - today).days} day(s) left"


def visits_report(visits: VisitList, ws: VisitWindowSettings, *, at: _dt.datetime,
                  subject: str | None = None) -> VisitsReport:
    """The report of `visits` (of `subject` only, if given) as of `at` (aware)."""
    entries = visits.of(subject) if subject is not None else list(visits.entries)
    subjects = [subject] if subject is not None else visits.subjects()
    today = local_date(at, ws)
    pending = []
    for s in subjects:
        d0 = visits.trial_visit(s, "D0")
        if d0 is None or d0.started_utc is None:
            continue
        for code in ("W4", "W12", "W24"):
            if any(e.holds_name or e.is_open for e in visits.at(s, code)):
                continue
            w = window_for(code, d0.started_utc, ws)
            if w is not None:
                pending.append(PendingVisit(subject=s, visit=code, window=w, status=_status(w, today)))
    return VisitsReport(data_dir=visits.data_dir, timezone=ws.timezone,
                        at_utc=at.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        subjects=subjects, entries=entries, pending=pending, problems=list(visits.problems))


def _entry_line(e: VisitEntry) -> str:
    state = e.state.value
    if e.replay_of:
        state += f", REPLAY of {e.replay_of} (not trial data)"
    if e.qc_failed:
        state += ", QC-FAILED"
    parts = [f"  {e.visit:<4} {state:<13}"]
    if e.started_utc:
        parts.append(f"started {e.started_utc}")
    if e.closed_utc:
        parts.append(f"closed {e.closed_utc}")
    if e.window is not None:
        w = e.window
        text = f"window {w.first} to {w.last} (due {w.due})"
        if e.in_window is not None and e.days_from_due is not None:
            text += f": {'in window' if e.in_window else 'OUT OF WINDOW'} ({e.days_from_due:+d} d from due)"
        parts.append(text)
    parts.append(e.where)
    if e.note:
        parts.append(e.note)
    return "  ".join(parts)


def report_lines(report: VisitsReport) -> list[str]:
    """The text `amuse-acq visits` prints (every line made safe for a terminal by the listing)."""
    out: list[str] = []
    by_subject: dict[str, list[VisitEntry]] = {s: [] for s in report.subjects}
    for e in report.entries:
        by_subject.setdefault(e.subject, []).append(e)
    for s, entries in by_subject.items():
        d0 = next((e for e in entries if e.visit == "D0" and e.is_trial_visit and e.started_utc), None)
        head = f"{s}  D0 {_local_day(d0.started_utc, report.timezone)}" if d0 else f"{s}  no sealed D0"
        out.append(f"{head}  ({report.timezone} calendar)")
        if not entries:
            out.append(f"  no visit in {report.data_dir}")
        for e in entries:
            out.append(_entry_line(e))
            out.extend(f"       problem: {p}" for p in e.problems)
        for p in (p for p in report.pending if p.subject == s):
            w = p.window
            out.append(f"  {p.visit:<4} {'not recorded':<13}  window {w.first} to {w.last} (due {w.due}): {p.status}")
    for p in report.problems:
        out.append(f"problem: {p}")
    n = sum(e.is_trial_visit for e in report.entries)
    out.append(f"visits: {len(report.subjects)} subject(s), {n} sealed trial visit(s), {len(report.entries)} "
               f"recording(s) listed, {len(report.problems) + sum(len(e.problems) for e in report.entries)} "
               f"problem(s) in {report.data_dir}")
    return out


def _local_day(started_utc: str, timezone: str) -> str:
    return str(local_date(parse_utc(started_utc), VisitWindowSettings(timezone=timezone)))
