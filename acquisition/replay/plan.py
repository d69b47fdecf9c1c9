"""`ReplayPlan`: what the original session did, and when, read back from a sealed visit file's events.

The session manager journals what it does as events: `visit.opened`, `source.started` / `source.stopped` (payload
`source`, `streams`, `counters`, `drained_at_stop`), `step.started` / `step.ended` (payload `repetition`,
`duration_s`), `calibration.recorded` (a calibration taken during the visit), `visit.closed`. A replay redoes
these through a real session manager at the same virtual times, so the session regenerates them
(`REGENERATED`); every other event is recorded content and is handed back as it is, either by the replay source it belongs to (`attribute`) or, if it belongs to none (a marker, an operator
action, a session-level QC event), by the driver through `SessionManager.event` with its own time and step.

An event belongs to source S when its payload names S (`source`), when its `stream` is S's name (the scanner's
events) or lists only S's streams, or when it is a device event whose payload `serial` is one of S's devices'.

Files that do not say everything (written without a session, a crash recovered): a stream no `source.started`
claims is replayed by a source of its own (`replay:<stream>`), scans without a scanner by `replay:scans`, both
from the opening to the close; a source never stopped is stopped at the close. Those replays cannot match their
original event for event, and `compare` says where. A source started twice in one visit is refused
(`ReplayUnsupported`): splitting its samples between the two runs is not done.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from acquisition.events import CALIBRATION_RECORDED, SOURCE_STARTED, SOURCE_STOPPED, VISIT_CLOSED, Event
from acquisition.journal.records import COMPUTED_QC
from acquisition.visitfile.reader import VisitFile

__all__ = ["REGENERATED", "Action", "ReplayPlan", "ReplayUnsupported", "SourcePlan", "attribute", "regenerated"]

VISIT_OPENED = "visit.opened"
CLOCK_PAIR = "clock.pair"
STEP_STARTED = "step.started"
STEP_ENDED = "step.ended"

#: (kind, name) of the events the session manager itself writes for what the replay redoes
REGENERATED: frozenset[tuple[str, str]] = frozenset({
    ("visit_open", VISIT_OPENED), ("visit_close", VISIT_CLOSED), ("clock", CLOCK_PAIR),
    ("device", SOURCE_STARTED), ("device", SOURCE_STOPPED), ("step_start", STEP_STARTED), ("step_end", STEP_ENDED),
    ("qc", CALIBRATION_RECORDED),
})


class ReplayUnsupported(ValueError):
    """The file records something a replay cannot redo; one line saying what."""


def regenerated(ev: Event) -> bool:
    return (ev.kind, ev.name) in REGENERATED


@dataclass
class SourcePlan:
    """One source of the original session: when it started and stopped, and what it reported."""

    name: str
    streams: tuple[str, ...]
    scanner: bool
    started: float
    started_row: int  # its `source.started` row: the order among actions at one time
    stopped: float | None = None
    stopped_row: int | None = None
    counters: dict[str, Any] = field(default_factory=dict)
    drained_at_stop: int = 0
    serials: frozenset[str] = frozenset()
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Action:
    """One thing the driver does at virtual time `t`: start / stop a source, start / end a step, write an event.
    `row` is the original event's row (journal order), which orders actions at one time."""

    t: float
    row: int
    kind: Literal["add", "remove", "start_step", "end_step", "calibrate", "emit"]
    source: str = ""
    event: Event | None = None


@dataclass
class ReplayPlan:
    open_t: float
    close_t: float
    sources: dict[str, SourcePlan]
    actions: list[Action]
    calibration: list[dict[str, Any]]  # the records in force at the opening
    outcomes: list[tuple[str, str, float, str, str]]
    recorded_calibration: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> taken during the visit
    #: the QC entries the session recorded (the pre-flight gates, the protocol run), recorded again at the close;
    #: those the compactor computes (`COMPUTED_QC`) it computes again
    recorded_qc: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, vf: VisitFile) -> "ReplayPlan":
        """The plan of `vf` (opened, and checked, by the caller)."""
        events = vf.events()
        ident = vf.identity
        opened = next((e.t_lsl for e in events if (e.kind, e.name) == ("visit_open", VISIT_OPENED)), None)
        open_t = opened if opened is not None else ident.started_t_lsl
        if open_t is None or not math.isfinite(open_t):
            open_t = min((e.t_lsl for e in events), default=0.0)
        sources = _sources(events)
        _add_orphans(vf, sources, float(open_t))
        for s in sources.values():
            if not s.scanner:
                s.serials = frozenset(vf.streams[n].spec.device.serial for n in s.streams if n in vf.streams)
        actions: list[Action] = []
        for row, ev in enumerate(events):
            if regenerated(ev):
                if ev.kind == "step_start":
                    actions.append(Action(ev.t_lsl, row, "start_step", event=ev))
                elif ev.kind == "step_end":
                    actions.append(Action(ev.t_lsl, row, "end_step", event=ev))
                elif ev.name == CALIBRATION_RECORDED:
                    actions.append(Action(ev.t_lsl, row, "calibrate", event=ev))
                continue
            owner = attribute(ev, sources)
            if owner is None:
                actions.append(Action(ev.t_lsl, row, "emit", event=ev))
            else:
                sources[owner].events.append(ev)
        closed = next((e.t_lsl for e in events if (e.kind, e.name) == ("visit_close", VISIT_CLOSED)), None)
        last = max([open_t, *(a.t for a in actions), *(s.started for s in sources.values()),
                    *(s.stopped for s in sources.values() if s.stopped is not None)])
        close_t = closed if closed is not None else last
        for s in sources.values():
            actions.append(Action(s.started, s.started_row, "add", source=s.name))
            actions.append(Action(s.stopped if s.stopped is not None else close_t,
                                  s.stopped_row if s.stopped_row is not None else len(events), "remove", source=s.name))
        actions.sort(key=lambda a: (a.t, a.row))
        close_t = max(close_t, open_t)
        _check_within(actions, float(open_t), float(close_t))
        # a calibration announced by `calibration.recorded` was taken during the visit: recorded again at its time
        during = {str(i) for a in actions if a.kind == "calibrate" and a.event is not None
                  for i in (a.event.payload.get("ids") or ())}
        records = {r.id: r.model_dump(exclude_unset=True) for r in vf.calibration}
        missing = sorted(during - set(records))
        if missing:
            raise ReplayUnsupported(f"calibration {missing[0]!r} was recorded during the visit but is not in "
                                    "/calibration")
        outcomes = [(o.step, o.metric, o.value, o.unit, o.method) for o in vf.outcomes]
        return cls(open_t=float(open_t), close_t=float(close_t), sources=sources, actions=actions,
                   calibration=[r for i, r in records.items() if i not in during], outcomes=outcomes,
                   recorded_calibration={i: r for i, r in records.items() if i in during},
                   recorded_qc={k: v for k, v in vf.qc.items() if k not in COMPUTED_QC and isinstance(v, dict)})


def _sources(events: list[Event]) -> dict[str, SourcePlan]:
    out: dict[str, SourcePlan] = {}
    for row, ev in enumerate(events):
        if ev.kind != "device" or ev.name not in (SOURCE_STARTED, SOURCE_STOPPED):
            continue
        name = ev.payload.get("source")
        if not isinstance(name, str) or not name:
            raise ReplayUnsupported(f"event {ev.name} at t={ev.t_lsl!r} names no source (payload 'source')")
        if ev.name == SOURCE_STARTED:
            if name in out:
                raise ReplayUnsupported(f"source {name!r} was started twice in this visit: replaying a source "
                                        "that was restarted is not supported")
            streams = ev.payload.get("streams")
            out[name] = SourcePlan(name=name, streams=tuple(str(s) for s in streams or ()),
                                   scanner=not isinstance(streams, list), started=ev.t_lsl, started_row=row)
        elif name in out and out[name].stopped is None:
            s = out[name]
            s.stopped, s.stopped_row = ev.t_lsl, row
            counters = ev.payload.get("counters")
            s.counters = dict(counters) if isinstance(counters, Mapping) else {}
            drained = ev.payload.get("drained_at_stop")
            s.drained_at_stop = drained if isinstance(drained, int) and not isinstance(drained, bool) else 0
    return out


def _check_within(actions: list[Action], open_t: float, close_t: float) -> None:
    """Every action falls between the opening and the close (a session stamps nothing outside them): a time far
    off (a forged or corrupted event) is refused here, before the replay writes anything, rather than waited for."""
    for a in actions:
        if not (open_t <= a.t <= close_t):  # a NaN time fails too
            what = a.event.name if a.event is not None else f"{a.kind} of source {a.source!r}"
            raise ReplayUnsupported(f"{what} at t={a.t!r} is outside the visit [{open_t!r}, {close_t!r}] "
                                    "(visit.opened to visit.closed): a session never records that")


def _add_orphans(vf: VisitFile, sources: dict[str, SourcePlan], t0: float) -> None:
    """A source of its own for every stream no `source.started` claims, and a scanner for scans without one, both
    from the opening (`t0`)."""
    claimed = {n for s in sources.values() for n in s.streams}
    for name in vf.streams:
        if name not in claimed:
            sources[f"replay:{name}"] = SourcePlan(name=f"replay:{name}", streams=(name,), scanner=False,
                                                   started=t0, started_row=-1)
    if len(vf.scans) and not any(s.scanner for s in sources.values()):
        sources["replay:scans"] = SourcePlan(name="replay:scans", streams=(), scanner=True, started=t0,
                                             started_row=-1)


def attribute(ev: Event, sources: Mapping[str, SourcePlan]) -> str | None:
    """The source `ev` belongs to (see the module docstring), or None."""
    named = ev.payload.get("source")
    if isinstance(named, str) and named in sources:
        return named
    if ev.stream:
        if ev.stream in sources:
            return ev.stream
        parts = set(ev.stream.split(","))
        for s in sources.values():
            if parts <= set(s.streams):
                return s.name
    serial = ev.payload.get("serial")
    if ev.kind == "device" and isinstance(serial, str):
        for s in sources.values():
            if serial in s.serials:
                return s.name
    return None
