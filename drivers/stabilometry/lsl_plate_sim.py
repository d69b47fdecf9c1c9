"""A simulated vendor app: publishes a six-component force plate (Fx Fy Fz Mx My Mz, N and N.m) on LSL.

Forces come from `SwayGenerator` (total load -> Fz = m g, small shear forces) and the moments are the exact
inverse of cop.py's formula for the configured `h_mm`, so the COP computed by `LslPlateSource` can be compared
with the generator's true COP. `units` can be overridden to test the inlet's unit checks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from acquisition.lslenv import pylsl
from drivers.common.sim_thread import ThreadedSimulator
from drivers.stabilometry.cop import FORCE_CHANNELS, forces_from_cop

DEFAULT_UNITS = ("N", "N", "N", "N.m", "N.m", "N.m")


def make_info(name: str, *, rate: float, source_id: str, units: Sequence[str] = DEFAULT_UNITS,
              labels: Sequence[str] = FORCE_CHANNELS, fmt: int | None = None) -> "pylsl.StreamInfo":
    info = pylsl.StreamInfo(name, "Force", len(labels), rate, pylsl.cf_float32 if fmt is None else fmt, source_id)
    chans = info.desc().append_child("channels")
    for lab, unit in zip(labels, units):
        c = chans.append_child("channel")
        c.append_child_value("label", lab)
        c.append_child_value("unit", unit)
        c.append_child_value("type", "Force")
    acq = info.desc().append_child("acquisition")
    acq.append_child_value("manufacturer", "A-MUSE simulator")
    acq.append_child_value("model", "SIM-FP6")
    acq.append_child_value("simulated", "true")
    return info


class LslPlateSimulator(ThreadedSimulator):
    _thread_name = "fp6-sim"

    def __init__(self, name: str = "SimForcePlate", *, rate: float = 100.0, h_mm: float = 40.0, seed: int = 0,
                 mass_kg: float = 70.0, units: Sequence[str] = DEFAULT_UNITS, gravity: float = 9.80665,
                 chunk: int = 5) -> None:
        from drivers.signals.sway import SwayGenerator

        self.gen = SwayGenerator(rate=rate, seed=seed, mass_kg=mass_kg)
        self.gen.set_step("stab_eyes_open", 3600.0)
        self.rate, self.h_m, self.g, self.chunk = rate, h_mm / 1000.0, gravity, chunk
        self.outlet = pylsl.StreamOutlet(make_info(name, rate=rate, source_id=f"sim-fp6-{seed}", units=units),
                                         chunk, 360)
        self._rng = np.random.default_rng(seed + 31)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: tuple[str, float] | None = None
        self.truth_t: list[np.ndarray] = []
        self.truth_cop: list[np.ndarray] = []

    def set_step(self, step: str, duration_s: float = 3600.0) -> None:
        with self._lock:
            self._pending = (step, duration_s)

    def _release(self) -> None:
        self.outlet = None  # type: ignore[assignment]  # drops the outlet: the stream disappears

    def truth(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if not self.truth_t:
                return np.empty(0), np.empty((0, 2))
            return np.concatenate(self.truth_t), np.concatenate(self.truth_cop)

    def _run(self) -> None:
        t0 = pylsl.local_clock()
        sent = 0
        while not self._stop.is_set():
            due = int((pylsl.local_clock() - t0) * self.rate) + 1 - sent
            if due < self.chunk:
                time.sleep(0.005)
                continue
            with self._lock:
                if self._pending is not None:
                    self.gen.set_step(*self._pending)
                    self._pending = None
            cells, cop = self.gen.next(due)
            fz = cells.sum(axis=1) * self.g
            fx = self._rng.normal(0.0, 2.0, due)
            fy = self._rng.normal(0.0, 2.0, due)
            fm = forces_from_cop(np.nan_to_num(cop), fz, h_m=self.h_m, fx_n=fx, fy_n=fy)
            ts = t0 + np.arange(sent, sent + due) / self.rate
            self.outlet.push_chunk(fm.astype(np.float32).tolist(), ts.tolist())
            with self._lock:
                self.truth_t.append(ts)
                self.truth_cop.append(np.asarray(cop, dtype=np.float64))
            sent += due
