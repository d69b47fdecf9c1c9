"""`ReplaySource`: one source of a sealed visit played back through the `Source` contract, on a `ReplayClock`.

What it hands over is what the file holds, unchanged: the raw device codes in their dtype, `device_seq`, `t_lsl`
and `t_read` (NaN where the original had none; no `t_read` at all for a stream that had none), stream by stream,
in row order. Gaps are holes in `device_seq` and come back as such: the new file's writer finds the same ones.
The source's device events come back from `drain_events` as recorded (their own `t_lsl`, `step`, `utc` and
payload), and `counters()` says the original source's last counters (its `source.stopped` payload).

Pacing: a row is due once the clock has passed its `t_lsl` (for a stream whose stamps step back, once it has
passed every stamp up to that row: rows are never reordered); an event once the clock has passed its `t_lsl`.
`read(timeout)` returns what is due (at most `max_rows` rows per stream per call), else waits for the clock.
`pending()` is what is due and not yet handed over: the replay driver waits for 0 before it moves on.

Stopping, made to match the original: the session's stop reads what a source still holds after its thread ended,
and records that count (`drained_at_stop` of `source.stopped`). The original's count is given as `held_at_stop`:
that many of the source's last samples (by time, over all its streams) are held back until `close()`, so the
session's reads after the close take exactly them. `prepare_stop()` (the driver, before removing the source)
hands over everything else, and every event left.

Declarations read by the session (`acquisition.source`): `emits_pseudonymous_names` (the payloads are those of a
sealed record, pseudonymised when they were recorded) and `keeps_event_steps` (an event's recorded step is kept,
"" included: the session must not re-tag it by the replay's timing).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.replay.clock import ReplayClock
from acquisition.replay.origin import ReplayOf, replayed_spec
from acquisition.stream import StreamSpec
from acquisition.visitfile.reader import StreamView

__all__ = ["ReplaySource", "held_rows"]

#: rows of one stream in one chunk: bounds the memory of a read (64 ch x int32: 16 MB)
MAX_ROWS = 65536
#: bytes of one stream read from the file at once. Why blocks: every `StreamView.read` opens the dataset anew, so
#: HDF5's chunk cache is empty and a whole compressed chunk (256 kB) is inflated for every small range: reading a
#: demo visit tick by tick took 6.4 CPU-s that way, against 0.3 s for the whole file at once
BLOCK_BYTES = 4 * 1024 * 1024


@dataclass
class _Stream:
    view: StreamView
    spec: StreamSpec
    t_reach: np.ndarray  # running max of t_lsl: row i is due once the clock reaches t_reach[i]
    n: int
    hold: int = 0  # the last `hold` rows wait for close()
    pos: int = 0  # rows handed over
    block_start: int = 0  # rows [block_start, block_start + len(block[0])) read from the file
    block: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None = None

    def rows(self, a: int, b: int) -> tuple[int, Chunk]:
        """Rows from `a` (up to `b`, within one block): (the end reached, the chunk)."""
        blk = self.block
        if blk is None or not (self.block_start <= a < self.block_start + len(blk[1])):
            row_bytes = self.spec.n_channels * self.spec.np_dtype.itemsize + 24
            end = min(self.n, a + max(4096, BLOCK_BYTES // row_bytes))
            v = self.view
            blk = self.block = (v.read(a, end), v.device_seq(a, end), v.t_lsl(a, end), v.t_read(a, end))
            self.block_start = a
        i, j = a - self.block_start, min(b, self.block_start + len(blk[1])) - self.block_start
        data, seq, t, tr = blk
        return self.block_start + j, Chunk.build(self.spec.name, data[i:j], seq[i:j], t[i:j],
                                                 None if tr is None else tr[i:j])


def held_rows(t_reach: Sequence[np.ndarray], total: int) -> list[int]:
    """How many of each stream's last rows make up the last `total` samples by time (ties: the later stream in
    the list, then the later row, is taken first): the samples a driver still held when the original stopped."""
    if total <= 0:
        return [0] * len(t_reach)
    cands = [(float(t[i]), k, i) for k, t in enumerate(t_reach) for i in range(max(0, len(t) - total), len(t))]
    cands.sort()
    out = [0] * len(t_reach)
    for _, k, _ in cands[len(cands) - min(total, len(cands)):]:
        out[k] += 1
    return out


class ReplaySource:
    """The streams of one original source (their views in an open `VisitFile`) and that source's events."""

    emits_pseudonymous_names = True
    keeps_event_steps = True

    def __init__(self, name: str, views: Sequence[StreamView], *, clock: ReplayClock, origin: ReplayOf,
                 events: Sequence[Event] = (), counters: Mapping[str, Any] | None = None, held_at_stop: int = 0,
                 max_rows: int = MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self._name = name
        self._views = list(views)
        self._specs = [replayed_spec(v.spec, origin) for v in self._views]
        self._clock = clock
        self._events = sorted(events, key=lambda e: e.t_lsl)  # stable: journal order among equal times
        self._event_times = [e.t_lsl for e in self._events]
        self._next_event = 0
        self._counters = dict(counters or {})
        self._held_at_stop = max(0, int(held_at_stop))
        self._max_rows = max_rows
        self._streams: list[_Stream] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._closed = False

    # -- the contract ------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> Sequence[StreamSpec]:
        return list(self._specs)

    def open(self) -> None:
        """Read each stream's `t_lsl` once (8 bytes a sample) to know when its rows are due."""
        if self._streams:
            return
        streams = []
        for view, spec in zip(self._views, self._specs):
            t = np.asarray(view.t_lsl(), dtype=np.float64)
            # fmax: a NaN stamp (never written by this software) does not hold back every row after it
            reach = np.fmax.accumulate(t) if t.size else t
            streams.append(_Stream(view=view, spec=spec, t_reach=reach, n=int(t.size)))
        for s, hold in zip(streams, held_rows([s.t_reach for s in streams], self._held_at_stop)):
            s.hold = hold
        self._streams = streams

    def read(self, timeout: float) -> Sequence[Chunk]:
        generation = self._clock.generation
        chunks = self._hand_over()
        if not chunks and timeout > 0 and not self._closed:
            self._clock.wait_change(generation, timeout)
            chunks = self._hand_over()
        return chunks

    def drain_events(self) -> Sequence[Event]:
        with self._lock:
            everything = self._stopping or self._closed
            now = self._clock()
            i = self._next_event
            while i < len(self._events) and (everything or self._events[i].t_lsl <= now):
                i += 1
            out, self._next_event = self._events[self._next_event:i], i
        return out

    def counters(self) -> Mapping[str, Any]:
        return dict(self._counters)

    def close(self) -> None:
        """The end of the replay of this source: the held-back tail and every event left are handed over."""
        with self._lock:
            self._closed = True
        self._clock.notify()

    # -- for the replay driver -----------------------------------------------------------------------------
    def prepare_stop(self) -> None:
        """Hand over every row but the held-back tail, and every event, whatever the clock says."""
        with self._lock:
            self._stopping = True
        self._clock.notify()

    def pending(self) -> int:
        """Rows due and not yet handed over."""
        with self._lock:
            return sum(self._limit(s) - s.pos for s in self._streams)

    def next_due(self, after: float) -> float:
        """The first time after `after` at which a row or an event of this source falls due (inf if none): the
        driver jumps the clock there over a silence instead of ticking through it."""
        with self._lock:
            times = [float(s.t_reach[i]) for s in self._streams
                     if (i := int(np.searchsorted(s.t_reach, after, side="right"))) < s.n]
            k = bisect.bisect_right(self._event_times, after)
            if k < len(self._event_times):
                times.append(self._event_times[k])
        return min(times, default=math.inf)

    @property
    def items(self) -> int:
        """Rows and events in all: each falls due once (the driver's bound on its clock moves)."""
        return sum(v.n_samples for v in self._views) + len(self._events)

    @property
    def rows_left(self) -> int:
        """Rows not yet handed over, due or not (the held-back tail included)."""
        with self._lock:
            return sum(s.n - s.pos for s in self._streams)

    # -- inside ----------------------------------------------------------------------------------------------
    def _limit(self, s: _Stream) -> int:
        if self._closed:
            return s.n
        if self._stopping:
            return s.n - s.hold
        due = int(np.searchsorted(s.t_reach, self._clock(), side="right"))
        return min(due, s.n - s.hold)

    def _hand_over(self) -> list[Chunk]:
        with self._lock:
            spans = [(s, s.pos, min(self._limit(s), s.pos + self._max_rows)) for s in self._streams]
        out: list[Chunk] = []
        ends: list[tuple[_Stream, int]] = []
        for s, a, b in spans:
            if b > a:
                end, chunk = s.rows(a, b)
                out.append(chunk)
                ends.append((s, end))
        if out:
            with self._lock:
                for s, end in ends:
                    s.pos = end
            self._clock.notify()
        return out
