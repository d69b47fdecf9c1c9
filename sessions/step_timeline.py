"""The protocol steps of a visit as time intervals, so an event is tagged by when it happened.

Why: a device event used to get whichever step was current when the manager *collected* it, so the Aurora's
`device.opened` at t=376.258 (opened during pre-flight) was tagged `scan_rest`, a step that started later. The
timeline keeps (t_start, t_end, step) on the LSL clock; an event before any step or between two steps gets "".
"""

from __future__ import annotations

import bisect
import math
import threading


class StepTimeline:
    """Ordered, non-overlapping step intervals; `begin`/`end` from the protocol thread, `at` from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._names: list[str] = []

    def begin(self, t: float, step: str) -> None:
        """Step `step` starts at `t` (a step still open ends there)."""
        with self._lock:
            if self._starts:
                t = max(t, self._starts[-1], self._ends[-1] if not math.isinf(self._ends[-1]) else -math.inf)
            if self._ends and math.isinf(self._ends[-1]):
                self._ends[-1] = t
            self._starts.append(t)
            self._ends.append(math.inf)
            self._names.append(step)

    def end(self, t: float) -> None:
        """The open step (if any) ends at `t`."""
        with self._lock:
            if self._ends and math.isinf(self._ends[-1]):
                self._ends[-1] = max(t, self._starts[-1])

    def at(self, t: float) -> str:
        """The step in force at `t` (start inclusive, end exclusive), or ""."""
        with self._lock:
            i = bisect.bisect_right(self._starts, t) - 1
            if i >= 0 and t < self._ends[i]:
                return self._names[i]
            return ""
