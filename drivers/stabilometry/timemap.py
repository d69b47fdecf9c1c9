"""Kernel event time -> LSL time.

evdev stamps each event in the kernel when the report arrives. The driver asks for CLOCK_MONOTONIC stamps
(ioctl EVIOCSCLOCKID); pylsl's `local_clock()` is CLOCK_MONOTONIC on Linux (std::chrono::steady_clock), so the
kernel stamp *is* an LSL time: mode 'identity', t_lsl = t_kernel. If the stamps are on another clock (the ioctl
failed, an old kernel: CLOCK_REALTIME), mode 'offset': t_lsl = t_kernel + offset, the offset being the lower
envelope (minimum) of (host read time - kernel time) over the last `window` reports, i.e. the least-delayed read.
The mode is chosen from the first observation (|host - kernel| < `identity_tol_s`) and is recorded as an event;
the measured latency (host - kernel) is kept as statistics either way.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class KernelTimeMap:
    def __init__(self, *, identity_tol_s: float = 2.0, window: int = 3000) -> None:
        self._tol = identity_tol_s
        self._lat: deque[float] = deque(maxlen=window)
        self.mode: str | None = None
        self.offset = 0.0

    def reset(self) -> None:
        self._lat.clear()
        self.mode = None
        self.offset = 0.0

    def observe(self, t_kernel: np.ndarray, t_host: float) -> str | None:
        """Add observations (all these events were read by `t_host`). Returns the mode if it was just chosen."""
        if len(t_kernel) == 0:
            return None
        lat = t_host - float(np.max(t_kernel))
        self._lat.append(lat)
        chosen = None
        if self.mode is None:
            self.mode = "identity" if abs(lat) < self._tol else "offset"
            chosen = self.mode
        if self.mode == "offset":
            self.offset = min(self._lat)
        return chosen

    def to_lsl(self, t_kernel: np.ndarray) -> np.ndarray:
        t = np.asarray(t_kernel, dtype=np.float64)
        return t if self.mode != "offset" else t + self.offset

    def latency_stats(self) -> dict[str, float]:
        if not self._lat:
            return {}
        a = np.fromiter(self._lat, dtype=np.float64)
        return {"min_s": float(a.min()), "median_s": float(np.median(a)), "max_s": float(a.max())}
