"""Events + counters + log lines of one source, in one place (every fault is all three)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from acquisition.clock import local_clock, utc_iso
from acquisition.events import Event, EventKind
from acquisition.log import get_logger


class Reporter:
    """Collects `Event`s for `drain_events()` and monotonic counters for `counters()`."""

    def __init__(self, source: str, counter_names: tuple[str, ...], *,
                 clock: Callable[[], float] = local_clock) -> None:
        self.source = source
        self._clock = clock
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {k: 0 for k in counter_names}
        self.log = get_logger(f"drivers.stabilometry.{source}")

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + int(n)

    def event(self, name: str, *, kind: EventKind = "device", stream: str = "", level: str = "warning",
              t_lsl: float | None = None, count: str | None = None, n: int = 1, **payload: Any) -> Event:
        if count is not None:
            self.count(count, n)
        ev = Event(t_lsl=self._clock() if t_lsl is None else float(t_lsl), utc=utc_iso(), kind=kind, name=name,
                   stream=stream, payload=payload)
        with self._lock:
            self._events.append(ev)
        getattr(self.log, level)(name, stream=stream, **payload)
        return ev

    def drain(self) -> list[Event]:
        with self._lock:
            out, self._events = self._events, []
        return out

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)
