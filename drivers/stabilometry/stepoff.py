"""Step-off detection: total load below a threshold is an event ('subject.stepped_off'), not an error."""

from __future__ import annotations

import numpy as np

from drivers.stabilometry.config import StepOffConfig


class StepOffDetector:
    """Hysteresis on the total load (kg). `update` returns the transitions as (index, 'off'|'on', load_kg)."""

    def __init__(self, config: StepOffConfig) -> None:
        self.off_below = config.threshold_kg
        self.on_above = config.threshold_kg + config.hysteresis_kg
        self.on: bool | None = None  # unknown until the first sample

    def update(self, load_kg: np.ndarray) -> list[tuple[int, str, float]]:
        out: list[tuple[int, str, float]] = []
        for i, f in enumerate(np.asarray(load_kg, dtype=np.float64)):
            if not np.isfinite(f):
                continue
            if self.on is None:
                self.on = bool(f >= self.off_below)
                if not self.on:
                    out.append((i, "off", float(f)))
            elif self.on and f < self.off_below:
                self.on = False
                out.append((i, "off", float(f)))
            elif not self.on and f > self.on_above:
                self.on = True
                out.append((i, "on", float(f)))
        return out
