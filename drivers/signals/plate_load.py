"""What stands on a simulated plate when it is not the subject, and how its cells really respond: ground truth for
the plate calibration procedures (`amuse-acq calibrate plate-tare | plate-mass`).

- `PlateLoad`: a still, known mass at a known position (mass 0: the empty plate). Its cells are the bilinear split
  of `drivers.signals.sway.cells_from_cop`, which satisfies the four-cell COP formula exactly, so the true COP of a
  placed mass is where it was placed.
- `CellErrors`: the plate's true miscalibration, which the device's own calibration (CAL? reply, hid-wiimote's
  EEPROM points) does not know: each cell reads `true * (1 + gain_error) + zero_kg` (plus white noise of
  `noise_kg`). A tare measures `zero_kg`; a known mass measures `gain_error`.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from drivers.signals.sway import cells_from_cop


class PlateLoad(BaseModel):
    """A still mass of `mass_kg` (0 = nothing) whose centre of mass is at (`x_mm`, `y_mm`) (ML right, AP forward)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mass_kg: float = Field(ge=0, le=300)
    x_mm: float = 0.0
    y_mm: float = 0.0

    @classmethod
    def empty(cls) -> "PlateLoad":
        return cls(mass_kg=0.0)

    def cells(self, n: int, *, width_mm: float, depth_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """(n, 4) true cells kg TR BR TL BL and the (n, 2) true COP mm (NaN on an empty plate)."""
        f = np.full(n, self.mass_kg)
        cells = cells_from_cop(f, np.full(n, self.x_mm), np.full(n, self.y_mm), width_mm, depth_mm)
        cop = np.tile([self.x_mm, self.y_mm] if self.mass_kg > 0 else [math.nan, math.nan], (n, 1))
        return cells, cop


def _four(v: tuple[float, ...], what: str) -> tuple[float, ...]:
    if len(v) != 4 or not all(math.isfinite(x) for x in v):
        raise ValueError(f"{what} needs 4 finite values (TR, BR, TL, BL), got {v!r}")
    return v


class CellErrors(BaseModel):
    """True per-cell errors of a simulated plate (cells TR, BR, TL, BL); all zero: a perfect plate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gain_error: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    zero_kg: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    noise_kg: float = Field(default=0.0, ge=0, le=50)

    @field_validator("gain_error")
    @classmethod
    def _gain(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        _four(v, "gain_error")
        if any(g <= -1 for g in v):
            raise ValueError(f"gain_error must be > -1 (a cell that reads nothing is not a gain error), got {v!r}")
        return v

    @field_validator("zero_kg")
    @classmethod
    def _zero(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        return _four(v, "zero_kg")

    @property
    def perfect(self) -> bool:
        return not any(self.gain_error) and not any(self.zero_kg) and self.noise_kg == 0

    def apply(self, cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """What the cells read for true loads `cells` (n, 4) kg."""
        if self.perfect:
            return cells
        out = cells * (1.0 + np.asarray(self.gain_error)) + np.asarray(self.zero_kg)
        if self.noise_kg:
            out = out + rng.normal(0.0, self.noise_kg, out.shape)
        return out
