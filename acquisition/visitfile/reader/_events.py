"""`/events/table` as `acquisition.events.Event` objects, and the filters a data manager asks for.

Repetition: the session records it only in the payload of `step.started` / `step.ended` (`repetition`). An event
matches `repetition=r` if its own payload says `repetition: r`, or if its `t_lsl` falls in an interval of its
step that began with a `step.started` of repetition r (inclusive) and ended with the next `step.ended` of that step
(exclusive), the same rule the session uses to tag events with their step (`sessions/step_timeline.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import h5py
from pydantic import ValidationError

from acquisition.events import Event
from acquisition.visitfile.reader._errors import VisitFileDamaged
from acquisition.visitfile.reader._stream import text

STEP_STARTED = "step.started"
STEP_ENDED = "step.ended"


def read_events(path: Path, f: h5py.File) -> list[Event]:
    """Every event, in journal order. Raises `VisitFileDamaged` naming the first row that is not an Event."""
    if "table" not in f["events"]:
        return []
    rows = f["events"]["table"][:]
    out: list[Event] = []
    for i, r in enumerate(rows):
        try:
            out.append(Event(t_lsl=float(r["t_lsl"]), utc=text(r["utc"]), kind=text(r["kind"]),  # type: ignore[arg-type]
                             name=text(r["name"]), stream=text(r["stream"]), step=text(r["step"]),
                             payload=json.loads(text(r["payload"]) or "{}")))
        except (ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0][:200]
            raise VisitFileDamaged(path, f"/events/table row {i} is not an event ({type(exc).__name__}: "
                                         f"{first})") from None
    return out


def _repetition(e: Event) -> int | None:
    r = e.payload.get("repetition")
    return r if isinstance(r, int) and not isinstance(r, bool) else None


def repetition_intervals(events: Iterable[Event]) -> list[tuple[str, int, float, float]]:
    """(step, repetition, t_start, t_end) of every step interval; an interval never ended runs to +inf."""
    open_: dict[str, tuple[int, float]] = {}
    out: list[tuple[str, int, float, float]] = []
    for e in events:
        if e.name == STEP_STARTED and e.kind == "step_start":
            rep = _repetition(e)
            if e.step in open_:
                r0, t0 = open_.pop(e.step)
                out.append((e.step, r0, t0, e.t_lsl))
            if rep is not None:
                open_[e.step] = (rep, e.t_lsl)
        elif e.name == STEP_ENDED and e.kind == "step_end" and e.step in open_:
            r0, t0 = open_.pop(e.step)
            out.append((e.step, r0, t0, e.t_lsl))
    out.extend((s, r, t0, float("inf")) for s, (r, t0) in open_.items())
    return out


def select(events: list[Event], *, kind: str | None = None, name: str | None = None, step: str | None = None,
           repetition: int | None = None, stream: str | None = None) -> list[Event]:
    """The events matching every filter given (None: any)."""
    out = [e for e in events if (kind is None or e.kind == kind) and (name is None or e.name == name)
           and (step is None or e.step == step) and (stream is None or e.stream == stream)]
    if repetition is None:
        return out
    spans = [(s, t0, t1) for s, r, t0, t1 in repetition_intervals(events) if r == repetition]

    def in_rep(e: Event) -> bool:
        own = _repetition(e)
        if own is not None:
            return own == repetition
        return any(e.step == s and t0 <= e.t_lsl < t1 for s, t0, t1 in spans)

    return [e for e in out if in_rep(e)]
