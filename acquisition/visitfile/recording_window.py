"""How long the visit recorded each stream, from the events of the record, for the QC's `expected_by_window`.

Why: the expected count taken from a stream's own first and last sample times cannot see a dead tail (an LSL
outlet that stops 8 s before the close showed `missing 0`). The session manager journals `source.started` (payload
`streams`) when a source's reader starts and `source.stopped` after its final reads, both on the recorder's clock,
so `nominal_rate x (stopped - started)` is what the visit should hold whatever the stream's own clock (a remote
LSL outlet's timestamps need not share the recorder's clock base).

A source that was never stopped (the process died) is counted up to `visit.closed` if there is one, otherwise up
to the last event journalled before any `visit.recovered` (a lower bound: the recovery runs later, perhaps after a
reboot, on another clock base); `end` says which.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from acquisition.events import (SOURCE_STARTED, SOURCE_STOPPED, STREAM_GAP_RATE_HIGH, STREAM_STALLED, VISIT_CLOSED,
                                VISIT_RECOVERED, Event)
from acquisition.journal import JournalFormatError, LogCursor, decode_event


@dataclass
class StreamWindow:
    """The time a visit recorded one stream (seconds on the recorder's clock) and its delivery alerts."""

    intervals: list[tuple[float, float]] = field(default_factory=list)
    end: str = "stopped"  # "stopped" | "closed" | "last_event"
    stalls: int = 0
    gap_rate_warnings: int = 0

    @property
    def seconds(self) -> float:
        return float(sum(b - a for a, b in self.intervals))


def _streams_of(ev: Event) -> list[str]:
    names = ev.payload.get("streams")
    if isinstance(names, list):
        return [str(n) for n in names]
    return [s for s in ev.stream.split(",") if s]


def recording_windows(events: Iterable[Event]) -> dict[str, StreamWindow]:
    """Pair each stream's `source.started` with its next `source.stopped` (events in journal order)."""
    out: dict[str, StreamWindow] = {}
    open_at: dict[str, float] = {}
    closed_t: float | None = None
    last_t: float | None = None
    recovered = False
    for ev in events:
        if ev.name == VISIT_RECOVERED:
            recovered = True
        if not recovered:
            last_t = ev.t_lsl if last_t is None else max(last_t, ev.t_lsl)
        if ev.name == SOURCE_STARTED:
            for s in _streams_of(ev):
                out.setdefault(s, StreamWindow())
                open_at.setdefault(s, ev.t_lsl)
        elif ev.name == SOURCE_STOPPED:
            for s in _streams_of(ev):
                t0 = open_at.pop(s, None)
                if t0 is not None:
                    out[s].intervals.append((t0, max(t0, ev.t_lsl)))
        elif ev.name == VISIT_CLOSED and closed_t is None:
            closed_t = ev.t_lsl
        elif ev.name in (STREAM_STALLED, STREAM_GAP_RATE_HIGH) and ev.payload.get("detected_by") == "session":
            w = out.setdefault(ev.stream, StreamWindow())
            if ev.name == STREAM_STALLED:
                w.stalls += 1
            else:
                w.gap_rate_warnings += 1
    for s, t0 in open_at.items():
        end, how = (closed_t, "closed") if closed_t is not None else (last_t, "last_event")
        out[s].intervals.append((t0, max(t0, end if end is not None else t0)))
        out[s].end = how
    return out


def journal_windows(journal_dir: Path) -> dict[str, StreamWindow]:
    """`recording_windows` over the `events` log of a journal (damaged records skipped, as everywhere)."""
    evs: list[Event] = []
    for payload in LogCursor(Path(journal_dir) / "events").read_new(final=True):
        try:
            evs.append(decode_event(payload))
        except (JournalFormatError, ValueError):
            continue
    return recording_windows(evs)
