"""Plate tare: the offsets of the four load cells with nothing on the platform (pure numpy; no device here).

The offsets are what every cell reads on the empty plate through the device's own calibration (kg, as the visit
file's physical units of the plate stream): an analysis subtracts them from each cell before the COP. Two checks
refuse to take a tare at all, because a tare taken under them would be wrong however it is judged:
- the plate is not empty: the total load read exceeds `empty_max_kg` (someone or something on it, or a cell that
  drifted that far: either way the plate is not fit for a tare);
- the plate is not still: a cell's standard deviation exceeds `noise_max_kg` (someone touching it, vibration).
A tare that was taken is failed (stored, not in force) when a cell's offset exceeds `offset_max_kg`: that cell's
zero has drifted beyond what a subtraction should hide, it needs service.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from acquisition.calibration_config import PlateTareSettings
from calibration.records import CalibrationRefused
from calibration.result import ProcedureResult

CELLS: tuple[str, ...] = ("TR", "BR", "TL", "BL")
PROCEDURE_VERSION = "plate-tare-1"


def _kg(v: float) -> float:
    return round(float(v), 6) + 0.0  # + 0.0: no -0.0 in a record


def check_finite(cells_kg: np.ndarray, what: str) -> np.ndarray:
    c = np.asarray(cells_kg, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 4 or c.shape[0] < 2:
        raise CalibrationRefused(f"{what}: expected at least 2 samples of 4 cells (TR BR TL BL), got shape {c.shape}")
    if not np.isfinite(c).all():
        raise CalibrationRefused(f"{what}: {int((~np.isfinite(c)).sum())} non-finite cell value(s) in the capture")
    return c


def check_still(cells_kg: np.ndarray, noise_max_kg: float, what: str) -> np.ndarray:
    """Per-cell standard deviation (kg); CalibrationRefused if any exceeds `noise_max_kg`."""
    std = np.asarray(cells_kg, dtype=np.float64).std(axis=0, ddof=1)
    worst = int(np.argmax(std))
    if std[worst] > noise_max_kg:
        raise CalibrationRefused(f"{what}: the plate is not still: cell {CELLS[worst]} varies by {std[worst]:.3f} kg "
                                 f"(standard deviation; at most {noise_max_kg:g} kg): is something touching it?")
    return std


def check_empty(mean_kg: np.ndarray, empty_max_kg: float, what: str) -> float:
    """Total load of the empty plate (kg); CalibrationRefused above `empty_max_kg`."""
    total = float(np.sum(mean_kg))
    if abs(total) > empty_max_kg:
        raise CalibrationRefused(f"{what}: the plate is not empty: it reads {total:+.2f} kg in all (at most "
                                 f"{empty_max_kg:g} kg); clear it and run again (if it is clear, a cell has "
                                 "drifted: service)")
    return total


def compute_tare(cells_kg: np.ndarray, settings: PlateTareSettings, *, stream: str = "",
                 channels: Sequence[str] = CELLS) -> ProcedureResult:
    """Offsets per cell from `cells_kg` (n, 4) kg of the empty, still plate (columns in `CELLS` order)."""
    what = "plate-tare"
    c = check_finite(cells_kg, what)
    mean = c.mean(axis=0)
    total = check_empty(mean, settings.empty_max_kg, what)  # a person on the plate is also "not still": say empty
    std = check_still(c, settings.noise_max_kg, what)
    reasons = [f"cell {name} offset {mean[i]:+.3f} kg is beyond +-{settings.offset_max_kg:g} kg: the cell needs "
               "service" for i, name in enumerate(CELLS) if abs(mean[i]) > settings.offset_max_kg]
    return ProcedureResult(
        values={"offset_kg": {name: _kg(mean[i]) for i, name in enumerate(CELLS)}, "unit": "kg",
                "stream": stream, "channels": list(channels),
                "apply": "subtract offset_kg[cell] from the cell's physical value (kg)"},
        residuals={"noise_kg": {name: _kg(std[i]) for i, name in enumerate(CELLS)}, "total_kg": _kg(total),
                   "samples": int(c.shape[0])},
        reasons=reasons,
        tolerances=settings.model_dump(mode="json"),
        procedure_version=PROCEDURE_VERSION,
    )
