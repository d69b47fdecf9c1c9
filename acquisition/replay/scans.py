"""`ReplayScanSource`: the face-scanner captures of a sealed visit played back through the `ScanSource` contract.

Each `/scans/<id>` comes back as a `ReplayedScan`: its id, every dataset as stored (dtype and shape), and its
attributes exactly as stored (`ScanView.stored_attrs`: no model defaults added, JSON-valued ones decoded, so the
writer stores the same text again), `step` included. The session's scan encoder for a replay is
`replay_scan_encoder`, which hands them on unchanged; the scan reader keeps the `step` an encoder gives (the
original's), rather than the step in force when the replay happened to poll.

A capture is due once the `ReplayClock` has passed its `t_lsl` (a capture without one is due at once); the
scanner's events (`scan.ingested`, `device.opened` ...) likewise, by their own `t_lsl`. `prepare_stop()` and
`close()` hand over whatever is left.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acquisition.events import Event
from acquisition.replay.clock import ReplayClock
from acquisition.visitfile.reader import ScanView

__all__ = ["ReplayScanSource", "ReplayedScan", "replay_scan_encoder"]


@dataclass(frozen=True)
class ReplayedScan:
    """One recorded capture as the writer takes it: `/scans/<scan_id>` datasets and attributes."""

    scan_id: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


def replay_scan_encoder(cap: ReplayedScan) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
    """The session's scan encoder for a replay: the capture as recorded (`sessions.scan_reader.ScanEncoder`)."""
    return cap.scan_id, dict(cap.arrays), dict(cap.attrs)


def _due_time(view: ScanView) -> float:
    t = view.attrs.t_lsl
    return float(t) if t is not None and math.isfinite(t) else -math.inf


class ReplayScanSource:
    """The captures of one original scanner (views in an open `VisitFile`) and that scanner's events."""

    emits_pseudonymous_names = True
    keeps_event_steps = True

    def __init__(self, name: str, scans: Sequence[ScanView], *, clock: ReplayClock, events: Sequence[Event] = (),
                 counters: Mapping[str, Any] | None = None) -> None:
        self._name = name
        self._scans = sorted(scans, key=lambda v: (_due_time(v), v.id))
        self._next_scan = 0
        self._clock = clock
        self._events = sorted(events, key=lambda e: e.t_lsl)
        self._scan_times = [_due_time(v) for v in self._scans]
        self._event_times = [e.t_lsl for e in self._events]
        self._next_event = 0
        self._counters = dict(counters or {})
        self._lock = threading.Lock()
        self._everything = False

    @property
    def name(self) -> str:
        return self._name

    def open(self) -> None:
        """Nothing to connect: the captures are in the open file."""

    def poll(self) -> Sequence[ReplayedScan]:
        with self._lock:
            everything, now = self._everything, self._clock()
            i = self._next_scan
            while i < len(self._scans) and (everything or _due_time(self._scans[i]) <= now):
                i += 1
            due, self._next_scan = self._scans[self._next_scan:i], i
        out = [ReplayedScan(scan_id=v.id, arrays={k: np.asarray(v.array(k)) for k in v.datasets},
                            attrs=dict(v.stored_attrs)) for v in due]
        if out:
            self._clock.notify()
        return out

    def drain_events(self) -> Sequence[Event]:
        with self._lock:
            everything, now = self._everything, self._clock()
            i = self._next_event
            while i < len(self._events) and (everything or self._events[i].t_lsl <= now):
                i += 1
            out, self._next_event = self._events[self._next_event:i], i
        return out

    def next_due(self, after: float) -> float:
        """The first time after `after` at which a capture or an event falls due (inf if none)."""
        out = math.inf
        for times in (self._scan_times, self._event_times):
            k = bisect.bisect_right(times, after)
            if k < len(times):
                out = min(out, times[k])
        return out

    @property
    def items(self) -> int:
        """Captures and events in all (the driver's bound on its clock moves)."""
        return len(self._scans) + len(self._events)

    def counters(self) -> Mapping[str, Any]:
        return dict(self._counters)

    def prepare_stop(self) -> None:
        """Hand over every capture and event left at the next poll."""
        with self._lock:
            self._everything = True
        self._clock.notify()

    def close(self) -> None:
        self.prepare_stop()
