"""SWARII: Sliding Windows Weighted Averaged Interpolation (Audiffren & Contal 2016, Sensors 16(8):1208).

The Wii Balance Board reports at an irregular rate (Bluetooth timing, and evdev drops reports whose values did
not change). SWARII turns such a signal into a uniform one: for a grid time g, the samples with |t_i - g| < W/2
each hold their value over the part of the window closest to them (borders at the mid-points between
consecutive sample times; the first one starts at the window's left edge, the last one ends at its right edge),
and the output is the average weighted by those durations. A window with one sample returns it; an empty window
gives no output (a gap in the grid index, never a made-up value).

The grid is absolute: grid point k is at t = k / rate on the LSL clock, so the index k is the uniform stream's
`device_seq` and a missing k is a visible gap. This implementation is streaming (`SwariiResampler`) with a
batch convenience (`swarii`); both give the same values.
"""

from __future__ import annotations

import math

import numpy as np


class SwariiResampler:
    """Push irregular (t, values) samples in time order; get uniform (k, t_k, values_k) as windows complete."""

    def __init__(self, *, rate_hz: float, window_s: float, n_channels: int) -> None:
        if rate_hz <= 0 or window_s <= 0:
            raise ValueError("SWARII needs a positive rate and window")
        self.rate = float(rate_hz)
        self.half = 0.5 * float(window_s)
        self.n_channels = int(n_channels)
        self._t = np.empty(0, dtype=np.float64)
        self._v = np.empty((0, self.n_channels), dtype=np.float64)
        self._next_k: int | None = None
        self._t_start = math.inf
        self.out_of_order = 0
        self.empty_windows = 0

    def push(self, t: np.ndarray, values: np.ndarray) -> None:
        """Append samples (times strictly increasing; a sample not after the last one is dropped and counted)."""
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        v = np.asarray(values, dtype=np.float64).reshape(len(t), self.n_channels)
        if len(t) == 0:
            return
        last = self._t[-1] if len(self._t) else -math.inf
        keep = np.empty(len(t), dtype=bool)
        for i, ti in enumerate(t):  # vectorising this needs a running max; n is small per call
            keep[i] = ti > last and math.isfinite(ti)
            if keep[i]:
                last = ti
        self.out_of_order += int((~keep).sum())
        t, v = t[keep], v[keep]
        if len(t) == 0:
            return
        if self._next_k is None:
            self._next_k = math.floor((t[0] - self.half) * self.rate) + 1
            self._t_start = float(t[0])
        self._t = np.concatenate([self._t, t])
        self._v = np.concatenate([self._v, v])

    def pull(self, *, final: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid points whose window is complete: (k int64, t float64, values (n, c) float64).

        A window is complete once a sample at or after its right edge has arrived (or `final`, at the end of
        the record, where the last window is clipped to the last sample as in the paper).
        """
        ks: list[int] = []
        vals: list[np.ndarray] = []
        t, v = self._t, self._v
        if self._next_k is None or len(t) == 0:
            return _empty(self.n_channels)
        k = self._next_k
        t_last = t[-1]
        while True:
            g = k / self.rate
            lo_edge, hi_edge = g - self.half, g + self.half
            if not final and t_last < hi_edge:
                break
            if final and lo_edge >= t_last:
                break
            lo = int(np.searchsorted(t, lo_edge, side="right"))
            hi = int(np.searchsorted(t, hi_edge, side="left"))
            if hi <= lo:
                if lo >= len(t):
                    self.empty_windows += 1
                    k += 1
                    continue
                # jump over a silent stretch straight to the first grid point whose window sees sample `lo`
                k_next = max(k + 1, math.floor((t[lo] - self.half) * self.rate) + 1)
                self.empty_windows += k_next - k
                k = k_next
                continue
            ks.append(k)
            vals.append(_weighted(t, v, lo, hi, max(lo_edge, self._t_start), hi_edge, final))
            k += 1
        self._next_k = k
        # forget samples no future window can use
        drop = int(np.searchsorted(t, k / self.rate - self.half, side="right"))
        if drop > 0:
            self._t, self._v = t[drop:], v[drop:]
        if not ks:
            return _empty(self.n_channels)
        karr = np.asarray(ks, dtype=np.int64)
        return karr, karr / self.rate, np.vstack(vals)


def _weighted(t: np.ndarray, v: np.ndarray, lo: int, hi: int, lo_edge: float, hi_edge: float,
              final: bool) -> np.ndarray:
    if hi - lo == 1:
        return v[lo]
    ts = t[lo:hi]
    mids = 0.5 * (ts[:-1] + ts[1:])
    left = np.concatenate([[lo_edge], mids])
    right_edge = min(hi_edge, t[-1]) if final else hi_edge
    right = np.concatenate([mids, [right_edge]])
    w = np.clip(right - left, 0.0, None)
    s = w.sum()
    if s <= 0:
        return v[lo:hi].mean(axis=0)
    return (w[:, None] * v[lo:hi]).sum(axis=0) / s


def _empty(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), np.empty((0, c), dtype=np.float64)


def swarii(t: np.ndarray, values: np.ndarray, *, rate_hz: float, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Batch SWARII of a whole record: (t_uniform, values_uniform). Empty windows are left out."""
    values = np.asarray(values, dtype=np.float64)
    one_d = values.ndim == 1
    v2 = values.reshape(len(values), -1)
    r = SwariiResampler(rate_hz=rate_hz, window_s=window_s, n_channels=v2.shape[1])
    r.push(t, v2)
    _, tu, vu = r.pull(final=True)
    return tu, (vu[:, 0] if one_d else vu)
