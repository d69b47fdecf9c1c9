"""Fake sources for the session manager's delivery logic: paced on the real clock, switchable, lossy on demand."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.lslenv import local_clock
from acquisition.stream import StreamSpec
from tests.sessions.helpers import ramp_spec

if TYPE_CHECKING:
    from sessions.manager import SessionManager
    from sessions.stream_watch import WatchSettings


class SwitchableSource:
    """Regular streams paced from `open()`; `on[stream] = False` silences one (a paused device: no holes when it
    comes back); `drop_every[stream] = k` drops every sample whose number is a multiple of k (a lossy link)."""

    def __init__(self, name: str, rates: Mapping[str, float], drop_every: Mapping[str, int] | None = None) -> None:
        self._name = name
        self._specs = [ramp_spec(s, 1, r) for s, r in rates.items()]
        self.on = {s: True for s in rates}
        self.drop_every = dict(drop_every or {})
        self._k = {s: 0 for s in rates}
        self._t0: dict[str, float] = {}
        self._paused = {s: False for s in rates}
        self.delivered = {s: 0 for s in rates}
        self.events: list[Event] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return self._specs

    def open(self) -> None:
        now = local_clock()
        self._t0 = {s.name: now for s in self._specs}

    def read(self, timeout: float) -> Sequence[Chunk]:
        time.sleep(min(timeout, 0.02))
        now = local_clock()
        out = []
        for spec in self._specs:
            s, rate = spec.name, spec.nominal_rate
            if not self.on[s]:
                self._paused[s] = True
                continue
            if self._paused[s]:
                self._t0[s] = now - self._k[s] / rate
                self._paused[s] = False
            due = int(math.floor((now - self._t0[s]) * rate)) + 1 - self._k[s]
            if due <= 0:
                continue
            seq = np.arange(self._k[s], self._k[s] + due, dtype=np.int64)
            self._k[s] += due
            k = self.drop_every.get(s)
            if k:
                seq = seq[seq % k != 0]
            if len(seq) == 0:
                continue
            self.delivered[s] += len(seq)
            out.append(Chunk.build(s, seq[:, None].astype(np.int32), seq, self._t0[s] + seq / rate))
        return out

    def drain_events(self) -> Sequence[Event]:
        out, self.events = self.events, []
        return out

    def counters(self) -> Mapping[str, int]:
        return {f"{s}.delivered": n for s, n in self.delivered.items()}

    def close(self) -> None:
        """No transport."""


class QueuedSource:
    """Like a driver with its own decoding thread (the BITalino's): chunks wait in a queue for `read`, and
    stopping the decoder in `close()` hands over the frames it was still holding."""

    def __init__(self, name: str = "queued", rate: float = 1000.0, tail: int = 37) -> None:
        self._name = name
        self._spec = ramp_spec(name, 1, rate)
        self._q: queue.Queue[Chunk] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._k = 0
        self._tail = tail
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return [self._spec]

    def _emit(self, n: int) -> None:
        seq = np.arange(self._k, self._k + n, dtype=np.int64)
        self._k += n
        self._q.put(Chunk.build(self._name, seq[:, None].astype(np.int32), seq, local_clock() + seq * 0.0))

    def _loop(self) -> None:
        n = max(1, int(self._spec.nominal_rate * 0.01))
        while not self._stop.wait(0.01):
            self._emit(n)
        self._emit(self._tail)  # the decoder's last frames, handed over as it stops

    def open(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def read(self, timeout: float) -> Sequence[Chunk]:
        out: list[Chunk] = []
        try:
            out.append(self._q.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def drain_events(self) -> Sequence[Event]:
        return []

    def counters(self) -> Mapping[str, int]:
        return {"frames": self._k}

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.closed = True


def open_watched(data_dir: Path, watch: WatchSettings | None = None, **kw: Any) -> SessionManager:
    """`helpers.open_session` with the delivery-watch thresholds given (and e.g. `clock=`)."""
    from acquisition.config import AcqSettings
    from sessions.manager import SessionManager
    from sessions.subject import VisitIdentity

    settings = AcqSettings(data_dir=data_dir, compaction_interval_s=0.2, lsl_outlets=False)
    ident = VisitIdentity.checked(subject="ABC-001", visit="D0", operator="tech1", site="SIM")
    return SessionManager.open(settings, ident, simulated=True, watch=watch, **kw)
