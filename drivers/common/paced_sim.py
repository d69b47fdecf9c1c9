"""`PacedSimulator`: what the wire-level simulators of a sampling device share (BITalino, Aurora, AMUSE-CB4).

- Absolute-origin pacing (`DeviceClock`): sample k is due at `origin + k / (rate (1 + drift_ppm 1e-6))`, computed
  from the origin every time, never by sleeping a period per chunk, so scheduling jitter never accumulates into
  a rate error (a per-chunk sleep of 20 ms loses ~1 % at 1 kHz on a loaded machine).
- Drift: `FaultSettings.drift_ppm` from the start, or the `drift` fault from the moment it fires; the clock is
  re-anchored where it stands, so no sample is skipped or repeated at the switch.
- Stall: the device keeps its clock running but sends nothing for `stall_s`; whatever fell due meanwhile goes
  out afterwards (a device buffer), or the commands wait (a command/reply device).
- Unplug/replug: the pty disappears for `unplug_s`, then a new one appears behind the same path and the device
  starts from power-up (`_on_replug`).
- Faults the device does not implement are refused when armed (`FAULTS`, see drivers/common/faults.py).

A subclass names its `FAULTS` and `device_name`, calls `super().__init__`, and implements `_on_bytes` (host
bytes), `_next_due` (when something falls due, None when idle) and `_on_due` (send what is due); it fires
faults with `_fire(name)` and starts the common ones with `_begin_stall` / `_begin_unplug`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import ClassVar

from acquisition.clock import local_clock
from drivers.common.faults import DEFAULT_DRIFT_PPM, FaultName, FaultSwitchboard
from drivers.common.pty_port import PtyPort
from drivers.common.sim_thread import ThreadedSimulator

_IDLE_WAIT_S = 0.02


class DeviceClock:
    """A device's sample clock on the host clock. Index k ticks at `t0 + (k - k0) / rate_eff`."""

    def __init__(self, rate: float, drift_ppm: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError(f"a device clock needs a rate > 0, got {rate}")
        self.rate = float(rate)
        self.drift_ppm = float(drift_ppm)
        self._t0: float | None = None
        self._k0 = 0.0

    @property
    def started(self) -> bool:
        return self._t0 is not None

    @property
    def rate_eff(self) -> float:
        """Samples per host second (a device `drift_ppm` fast ticks faster)."""
        return self.rate * (1.0 + self.drift_ppm * 1e-6)

    @property
    def period(self) -> float:
        return 1.0 / self.rate_eff

    def start(self, t: float, k: int = 0) -> None:
        """Sample `k` ticks at host time `t`."""
        self._t0, self._k0 = float(t), float(k)

    def stop(self) -> None:
        self._t0 = None

    def position(self, now: float) -> float:
        """Fractional sample index at `now`."""
        assert self._t0 is not None, "device clock not started"
        return self._k0 + (now - self._t0) * self.rate_eff

    def due(self, now: float) -> int:
        """How many samples (indices 0 .. due-1) have ticked by `now`."""
        return int(math.floor(self.position(now))) + 1

    def tick_time(self, k: float) -> float:
        """Host time of index `k` (exact since the last re-anchoring)."""
        assert self._t0 is not None, "device clock not started"
        return self._t0 + (k - self._k0) / self.rate_eff

    def _reanchor(self, now: float) -> None:
        if self._t0 is not None:
            self._k0, self._t0 = self.position(now), now

    def set_drift(self, drift_ppm: float, now: float) -> None:
        self._reanchor(now)
        self.drift_ppm = float(drift_ppm)

    def set_rate(self, rate: float, now: float) -> None:
        if rate <= 0:
            raise ValueError(f"a device clock needs a rate > 0, got {rate}")
        self._reanchor(now)
        self.rate = float(rate)


class PacedSimulator(ThreadedSimulator):
    """Lifecycle (`start`, `stop` = `close`, context manager), pacing, stall, unplug/replug and drift."""

    FAULTS: ClassVar[tuple[FaultName, ...]] = ()
    device_name: ClassVar[str] = "device"

    def __init__(self, *, port: PtyPort, rate: float, faults: FaultSwitchboard | None = None,
                 drift_ppm: float | None = None, fault_interval_s: float = 0.0,
                 clock: Callable[[], float] = local_clock) -> None:
        self.faults = faults if faults is not None else FaultSwitchboard()
        try:
            self.faults.restrict(self.FAULTS, self.device_name)
        except ValueError:
            port.close()
            raise
        self.port = port
        ppm = self.faults.settings.drift_ppm if drift_ppm is None else float(drift_ppm)
        self.device_clock = DeviceClock(rate, ppm)
        self._clock = clock
        self._fault_interval = float(fault_interval_s)
        self._last_fault = -math.inf
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stalled_until = 0.0
        self._unplugged_until: float | None = None
        self.unplugs = 0
        self.stalls = 0

    # -- what a device does (subclass) ---------------------------------------------------------------
    def _on_bytes(self, data: bytes) -> None:
        """Bytes the host sent."""

    def _next_due(self, now: float) -> float | None:
        """Host time at which `_on_due` has something to do (None: nothing until bytes arrive)."""
        return None

    def _on_due(self, now: float) -> None:
        """Send what fell due by `now` (not called while stalled or unplugged)."""

    def _on_replug(self) -> None:
        """The device powers up again behind the new pty."""

    def _on_host_closed(self) -> None:
        """The host closed the port (the end of a client session)."""

    # -- faults --------------------------------------------------------------------------------------
    @property
    def drift_ppm(self) -> float:
        return self.device_clock.drift_ppm

    def _fire(self, fault: FaultName) -> bool:
        """True if `fault` is armed and may fire now (at most one fault per `fault_interval_s`)."""
        now = self._clock()
        if now - self._last_fault < self._fault_interval:
            return False
        if self.faults.take(fault):
            self._last_fault = now
            return True
        return False

    def _begin_stall(self, now: float) -> None:
        self.stalls += 1
        self._stalled_until = now + self.faults.settings.stall_s

    def _begin_unplug(self, now: float) -> None:
        self.unplugs += 1
        self.port.unplug()
        self._unplugged_until = now + self.faults.settings.unplug_s

    def stalled(self, now: float) -> bool:
        return now < self._stalled_until

    # -- loop ----------------------------------------------------------------------------------------
    def _release(self) -> None:
        self.port.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            if self._unplugged_until is not None:
                if now >= self._unplugged_until:
                    self.port.replug()
                    self._unplugged_until = None
                    self._stalled_until = 0.0
                    self._on_replug()
                else:
                    self._stop.wait(min(0.01, self._unplugged_until - now))
                continue
            if "drift" in self.FAULTS and self._fire("drift"):
                ppm = self.faults.settings.drift_ppm or DEFAULT_DRIFT_PPM
                self.device_clock.set_drift(ppm, now)
            nxt = self._next_due(now)
            wait = _IDLE_WAIT_S if nxt is None else max(0.0, min(_IDLE_WAIT_S, nxt - now))
            if self.stalled(now):
                wait = min(_IDLE_WAIT_S, self._stalled_until - now)
            data = self.port.read(wait)
            if self.port.take_host_sessions_ended():  # before the bytes: they may be the next client's first
                self._on_host_closed()
            if data:
                self._on_bytes(data)
            now = self._clock()
            if self._unplugged_until is None and not self.stalled(now):
                self._on_due(now)
