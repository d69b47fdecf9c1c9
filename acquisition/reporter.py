"""`Reporter`: the one way a source reports (the drivers, and the LSL inlet they build on). Every fault is an
`Event` (with its LSL time), a counter and a log line, together, so the three never disagree.

Names are checked at the first use, in the tests, not found misspelt in a visit file: a device event must be one
of `acquisition.events.DeviceEventName`; a counter must be one of `acquisition.events.CounterName` or one the
source declared when it made its reporter (its own counters beside the standard ones).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from acquisition.clock import local_clock, utc_iso
from acquisition.events import DEVICE_EVENT_NAMES, STANDARD_COUNTERS, Event, EventKind
from acquisition.log import get_logger


class Reporter:
    """Collects events for `drain_events()` and monotonic counters for `counters()`; thread-safe (a driver's
    reader threads and its caller share one).

    `counter_names` are the counters `counters()` shows from the start (at 0); a standard counter appears at its
    first count. Counting any other name is a bug in the source: ValueError."""

    def __init__(self, source: str, counter_names: Iterable[str] = (), *,
                 clock: Callable[[], float] = local_clock, logger: str | None = None) -> None:
        self.source = source
        self._clock = clock
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {k: 0 for k in counter_names}
        self._allowed = frozenset(STANDARD_COUNTERS) | frozenset(self._counters)
        self.log = get_logger(logger or f"drivers.{source}")

    def count(self, name: str, n: int = 1) -> None:
        if name not in self._allowed:
            raise ValueError(f"{self.source}: counter {name!r} is neither in acquisition.events.CounterName "
                             f"nor declared by the source ({', '.join(sorted(self._allowed - set(STANDARD_COUNTERS)))})")
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + int(n)

    def event(self, name: str, *, kind: EventKind = "device", stream: str = "", step: str = "",
              level: str = "warning", t_lsl: float | None = None, count: str | None = None, n: int = 1,
              **payload: Any) -> Event:
        """Record one happening; `count` names the counter it adds `n` to. A device event outside the standard
        vocabulary is a bug in the source: ValueError."""
        if kind == "device" and name not in DEVICE_EVENT_NAMES:
            raise ValueError(f"{self.source}: device event {name!r} is not in acquisition.events.DeviceEventName")
        if count is not None:
            self.count(count, n)
            if n != 1 and "n" not in payload:
                payload["n"] = n  # the record says how many, not only the counter
        ev = Event(t_lsl=self._clock() if t_lsl is None else float(t_lsl), utc=utc_iso(), kind=kind, name=name,
                   stream=stream, step=step, payload=payload)
        with self._lock:
            self._events.append(ev)
        getattr(self.log, level)(name, stream=stream, **payload)
        return ev

    def drain_events(self) -> list[Event]:
        """Events since the last call, oldest first."""
        with self._lock:
            out, self._events = self._events, []
        return out

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)
