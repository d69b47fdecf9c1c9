"""Per-stream delivery watch of an open visit: a stream that stops delivering, a stream losing samples.

Why here and not in each source: an LSL inlet opened with `recover=True` never raises, and the expected count of
a source comes from the data's own timestamps, so a stream that dies 8 s before the close showed `missing 0` and
no event. The session manager is the one place that sees every chunk of every source, so it watches each stream
with `nominal_rate > 0` by the time it last received a chunk of it (its own clock, whatever the source's clock):

- silent for `stall_after_s(rate)` = max(`stall_min_s`, `stall_periods` / rate) -> `stream.stalled`; the next
  chunk -> `stream.resumed` (both carry `detected_by: "session"`, so they are not confused with a driver's own
  stall events of the same name);
- more than `gap_rate_max` of the samples missing (holes in `device_seq`) over the last `gap_window_s`, counted
  over at least `gap_min_samples` expected samples -> `stream.gap_rate_high`, once per episode (re-armed when
  the rate over the window is back under the threshold). Under load the jaw tracker lost 72 of 2213 frames in 37
  gaps (3.3 %) without a word before this.

The watch only decides; the manager turns each `Alert` into an event in the record, a warning log line and a
line for the technician (`alert_line`). When the watch thread itself runs late (the whole process froze for a
second under load), that time is excused (`excuse`): it says nothing about the streams.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from acquisition.config import AcqSettings
from acquisition.events import STREAM_GAP_RATE_HIGH as GAP_RATE_HIGH
from acquisition.events import STREAM_RESUMED as RESUMED
from acquisition.events import STREAM_STALLED as STALLED
from acquisition.events import Event

DETECTOR = "session"  # payload["detected_by"] of the events raised here


class WatchSettings(BaseModel):
    """Thresholds of the delivery watch. The session builds them from its `AcqSettings` (`from_settings`) unless
    given explicitly (`SessionManager.open(..., watch=WatchSettings(...))`, tests)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stall_min_s: float = Field(default=1.0, gt=0, description="a stream silent this long is stalled...")
    stall_periods: float = Field(default=10.0, gt=0, description="...or this many sample periods, if longer")
    gap_rate_max: float = Field(default=0.01, gt=0, lt=1, description="fraction of samples missing that warns")
    gap_window_s: float = Field(default=10.0, gt=0, description="sliding window of the gap rate")
    gap_min_samples: int = Field(default=100, ge=1, description="expected samples in the window before judging")
    tick_s: float = Field(default=0.2, gt=0, le=1.0, description="cadence of the stall check")

    @classmethod
    def from_settings(cls, settings: AcqSettings) -> "WatchSettings":
        """The thresholds a site set (`stall_after_s`, `stall_after_intervals`, `gap_rate_warn`,
        `gap_rate_window_s`, `gap_rate_min_samples`): in the TOML file, `AMUSE_*`, shown by `amuse-acq config`."""
        return cls(stall_min_s=settings.stall_after_s, stall_periods=settings.stall_after_intervals,
                   gap_rate_max=settings.gap_rate_warn, gap_window_s=settings.gap_rate_window_s,
                   gap_min_samples=settings.gap_rate_min_samples)

    def stall_after_s(self, rate: float) -> float:
        """Silence that makes a stream of `rate` Hz stalled: 1 s at >= 10 Hz, 10 periods below (defaults)."""
        return max(self.stall_min_s, self.stall_periods / rate)


@dataclass(frozen=True)
class Alert:
    """Something the technician must hear about now; becomes an `Event` of the record."""

    name: str
    stream: str
    t: float
    payload: dict[str, Any]


@dataclass
class _StreamState:
    source: str
    rate: float
    stall_after_s: float
    last_chunk_t: float
    stalled_since: float | None = None
    last_seq: int | None = None
    window: deque[tuple[float, int, int]] = field(default_factory=deque)  # (t, received, missing)
    received: int = 0
    missing: int = 0
    gap_warned: bool = False


class StreamWatch:
    """Stall and gap-rate detection for every regular stream of a visit. Thread-safe: readers feed `on_chunk`,
    the manager's watch thread calls `check`."""

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._streams: dict[str, _StreamState] = {}

    def watch(self, stream: str, *, source: str, rate: float, now: float) -> None:
        """Start watching `stream` (ignored for irregular streams, `rate <= 0`); silence counts from `now`."""
        if rate <= 0:
            return
        with self._lock:
            self._streams[stream] = _StreamState(source=source, rate=rate, last_chunk_t=now,
                                                 stall_after_s=self.settings.stall_after_s(rate))

    def forget(self, streams: Iterable[str]) -> None:
        """Stop watching (the source is being stopped: its silence from now on is not a stall)."""
        with self._lock:
            for s in streams:
                self._streams.pop(s, None)

    def on_chunk(self, stream: str, seq: np.ndarray, now: float) -> list[Alert]:
        """A chunk of `stream` arrived at `now` (manager clock) with these `device_seq` numbers."""
        out: list[Alert] = []
        with self._lock:
            st = self._streams.get(stream)
            if st is None or len(seq) == 0:
                return out
            prev = np.concatenate(([st.last_seq], seq)) if st.last_seq is not None else seq
            holes = int(np.clip(np.diff(prev) - 1, 0, None).sum()) if len(prev) > 1 else 0
            if st.stalled_since is not None:
                # missing_at_resume 0: the samples were late (buffered upstream), not lost
                out.append(Alert(RESUMED, stream, now, {
                    "detected_by": DETECTOR, "source": st.source, "silent_s": round(now - st.last_chunk_t, 3),
                    "missing_at_resume": holes}))
                st.stalled_since = None
            st.last_chunk_t = now
            st.last_seq = int(seq[-1])
            st.window.append((now, len(seq), holes))
            st.received += len(seq)
            st.missing += holes
            horizon = now - self.settings.gap_window_s
            while st.window and st.window[0][0] < horizon:
                _, r, m = st.window.popleft()
                st.received -= r
                st.missing -= m
            expected = st.received + st.missing
            rate = st.missing / expected if expected else 0.0
            if rate <= self.settings.gap_rate_max:
                st.gap_warned = False
            elif expected >= self.settings.gap_min_samples and not st.gap_warned:
                st.gap_warned = True
                out.append(Alert(GAP_RATE_HIGH, stream, now, {
                    "detected_by": DETECTOR, "source": st.source, "missing": st.missing, "expected": expected,
                    "rate": round(rate, 5), "window_s": self.settings.gap_window_s,
                    "threshold": self.settings.gap_rate_max}))
        return out

    def excuse(self, seconds: float) -> None:
        """The recorder itself was frozen for `seconds` (its watch thread ran that late): that time is not
        the streams' silence."""
        with self._lock:
            for st in self._streams.values():
                if st.stalled_since is None:
                    st.last_chunk_t += seconds

    def check(self, now: float) -> list[Alert]:
        """Streams silent past their threshold, each reported once until it delivers again."""
        out: list[Alert] = []
        with self._lock:
            for name, st in self._streams.items():
                silent = now - st.last_chunk_t
                if st.stalled_since is None and silent >= st.stall_after_s:
                    st.stalled_since = now
                    out.append(Alert(STALLED, name, now, {
                        "detected_by": DETECTOR, "source": st.source, "silent_s": round(silent, 3),
                        "threshold_s": round(st.stall_after_s, 3), "last_chunk_t": st.last_chunk_t}))
        return out


def alert_line(ev: Event) -> str:
    """One line for the technician's terminal."""
    p = ev.payload
    if ev.name == STALLED:
        return (f"{ev.stream}: no sample for {p.get('silent_s', 0):.1f} s (stalled; "
                f"threshold {p.get('threshold_s', 0):g} s), source {p.get('source', '?')}")
    if ev.name == RESUMED:
        lost = int(p.get("missing_at_resume", 0))
        return (f"{ev.stream}: delivering again after {p.get('silent_s', 0):.1f} s of silence"
                + (f", {lost} samples lost" if lost else ", nothing lost"))
    if ev.name == GAP_RATE_HIGH:
        return (f"{ev.stream}: {p.get('missing')} of {p.get('expected')} samples missing over the last "
                f"{p.get('window_s', 0):g} s ({100 * float(p.get('rate', 0)):.1f} % > "
                f"{100 * float(p.get('threshold', 0)):g} %)")
    detail = p.get("reason") or p.get("error") or ""
    return f"{ev.stream + ': ' if ev.stream else ''}{ev.name}{': ' + str(detail) if detail else ''}"
