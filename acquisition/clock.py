"""Time: LSL clock, UTC wall time, boot id, and the online counter->LSL-time fit for counted devices."""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

import numpy as np

from acquisition.lslenv import local_clock

__all__ = ["local_clock", "utc_now", "utc_iso", "boot_id", "clock_pair", "CounterClock"]


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def utc_iso(when: _dt.datetime | None = None) -> str:
    """UTC ISO-8601 with a `Z` suffix and microseconds, e.g. 2026-11-25T12:00:00.000000Z."""
    when = when or utc_now()
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def boot_id() -> str:
    """The kernel's boot id: LSL (monotonic) times are only comparable within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-" + uuid.uuid4().hex


def clock_pair() -> tuple[float, str]:
    """A (LSL clock, UTC) pair taken back to back, to place monotonic times on the calendar."""
    t = local_clock()
    return t, utc_iso()


class CounterClock:
    """Online fit of a device sample counter to the LSL clock.

    The device numbers its samples and runs at a nominal rate, possibly a little off (crystal ppm). The host
    reads bytes some time after the device emitted them, with jitter and occasional stalls. Each read gives
    one observation `(last sequence number in the batch, read time)`; read time is never earlier than emission,
    so the fit takes the slope from a least-squares line over a sliding window and places the line on the lower
    envelope of the observations (the least-delayed reads). Call `reset()` when the counter restarts
    (reconnect, resync): the fit then starts again from the nominal rate.
    """

    _CAP = 4096  # observations kept at most

    def __init__(self, nominal_rate: float, *, window_s: float = 30.0, max_ppm: float = 2000.0) -> None:
        if nominal_rate <= 0:
            raise ValueError("CounterClock needs a positive nominal rate")
        self._rate = float(nominal_rate)
        self._window = max(int(window_s * self._rate), 10)
        self._max_dev = max_ppm * 1e-6
        # observations in preallocated arrays [lo:hi) (constant cost per update; compacted when the end is reached)
        self._seq = np.empty(2 * self._CAP, dtype=np.float64)
        self._t = np.empty(2 * self._CAP, dtype=np.float64)
        self._lo = self._hi = 0
        self._period = 1.0 / self._rate
        self._anchor_seq = 0
        self._anchor_t = 0.0
        self._fitted = False

    @property
    def period(self) -> float:
        """Current estimate of the device's sample period, seconds."""
        return self._period

    @property
    def fitted(self) -> bool:
        return self._fitted

    def reset(self) -> None:
        self._lo = self._hi = 0
        self._period = 1.0 / self._rate
        self._fitted = False

    def update(self, seq_last: int, t_read: float) -> None:
        """Add one observation: sample `seq_last` had fully arrived by host time `t_read`."""
        if self._hi > self._lo and seq_last <= self._seq[self._hi - 1]:
            # counter went backwards or repeated: a restart the driver did not announce
            self.reset()
        if self._hi == len(self._seq):
            n = self._hi - self._lo
            self._seq[:n] = self._seq[self._lo : self._hi]
            self._t[:n] = self._t[self._lo : self._hi]
            self._lo, self._hi = 0, n
        self._seq[self._hi] = float(int(seq_last))
        self._t[self._hi] = float(t_read)
        self._hi += 1
        if self._hi - self._lo > self._CAP:
            self._lo = self._hi - self._CAP
        # drop observations older than the window (keep at least two)
        newest = self._seq[self._hi - 1]
        while self._hi - self._lo > 2 and newest - self._seq[self._lo] > self._window:
            self._lo += 1
        seq = self._seq[self._lo : self._hi]
        t = self._t[self._lo : self._hi]
        s0 = seq[-1]
        x = seq - s0
        nominal = 1.0 / self._rate
        period = nominal
        if len(seq) >= 8 and x[0] < -2 * self._rate:  # at least two seconds of counter span
            # slope from the lower envelope: minimum residual in each half of the window
            xm = x - x.mean()
            slope = float(np.dot(xm, t - t.mean()) / np.dot(xm, xm))
            r = t - slope * x
            half = len(x) // 2
            i0 = int(np.argmin(r[:half]))
            i1 = half + int(np.argmin(r[half:]))
            if x[i1] - x[i0] > self._rate:  # envelope points at least one second apart
                slope = float((t[i1] - t[i0]) / (x[i1] - x[i0]))
            if abs(slope / nominal - 1.0) <= self._max_dev:
                period = slope
        offset = float(np.min(t - period * x))
        self._period = period
        self._anchor_seq = int(s0)
        self._anchor_t = offset
        self._fitted = True

    def times(self, seq: np.ndarray) -> np.ndarray:
        """LSL-clock emission times of the given sequence numbers (float64). Requires one `update` first."""
        if not self._fitted:
            raise RuntimeError("CounterClock.times() before any update()")
        return self._anchor_t + (np.asarray(seq, dtype=np.float64) - self._anchor_seq) * self._period
