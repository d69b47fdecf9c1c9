"""`WatchLoop`: the visit's delivery-watch thread, and the queue of live alerts for the technician.

`StreamWatch` decides (a stream silent past its threshold, a gap rate too high); this loop runs its check every
`tick_s`, turns each `Alert` into an event of the record, a log line and a live alert (`drain`, oldest first,
each once). Readers feed it every chunk that reached the journal (`on_chunk`). When the thread itself runs late
(the whole process froze), that time is excused: it says nothing about the streams.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from acquisition.events import STREAM_GAP_RATE_HIGH, STREAM_RESUMED, Event, EventKind
from sessions.session_errors import VisitFailed
from sessions.stream_watch import Alert, StreamWatch, WatchSettings
from sessions.loop_thread import LoopThread

__all__ = ["WatchLoop"]

#: live alerts kept for a technician who does not read them (the record keeps them all)
_MAX_ALERTS = 1000


class WatchLoop(LoopThread):
    """Owns the `StreamWatch`, its thread and the alert queue; `start`, then `stop` (joins)."""

    def __init__(self, settings: WatchSettings, *, clock: Callable[[], float], log: Any,
                 event: Callable[..., Event]) -> None:
        self.watch = StreamWatch(settings)
        self._clock = clock
        self._log = log
        self._event = event
        self._alerts: deque[Event] = deque(maxlen=_MAX_ALERTS)
        super().__init__("stream-watch")

    # -- fed by the session and its readers ----------------------------------------------------------
    def watch_stream(self, stream: str, *, source: str, rate: float) -> None:
        self.watch.watch(stream, source=source, rate=rate, now=self._clock())

    def forget(self, streams: Iterable[str]) -> None:
        self.watch.forget(streams)

    def on_chunk(self, stream: str, seq: np.ndarray) -> None:
        for alert in self.watch.on_chunk(stream, seq, self._clock()):
            self._raise(alert)

    def push(self, ev: Event) -> None:
        """An event the technician must see that the watch did not raise (a failed visit)."""
        self._alerts.append(ev)

    def drain(self) -> list[Event]:
        out: list[Event] = []
        while True:
            try:
                out.append(self._alerts.popleft())
            except IndexError:
                return out

    # -- the thread ----------------------------------------------------------------------------------
    def _raise(self, alert: Alert) -> None:
        kind: EventKind = "qc" if alert.name == STREAM_GAP_RATE_HIGH else "device"
        ev = self._event(kind, alert.name, stream=alert.stream, payload=alert.payload, t_lsl=alert.t)
        (self._log.info if alert.name == STREAM_RESUMED else self._log.warning)(
            alert.name, stream=alert.stream, **alert.payload)
        self._alerts.append(ev)

    def _run(self) -> None:
        tick = self.watch.settings.tick_s
        prev = self._clock()
        while not self._stop.wait(tick):
            now = self._clock()
            late, prev = now - prev - tick, now
            if late > max(0.5, 2 * tick):
                # this thread was held up too (the process froze): that time is not the streams' silence
                self._log.info("watch.late", late_s=round(late, 3))
                self.watch.excuse(late)
            try:
                for alert in self.watch.check(now):
                    self._raise(alert)
            except VisitFailed:
                return
