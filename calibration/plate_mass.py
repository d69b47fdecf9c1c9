"""Plate known-mass check: a reference mass at the centre and at four corners (pure numpy; no device here).

Positions (ISPGR axes: x to the subject's right, y forward; origin at the plate centre, cells at the corners of the
`width_mm` x `depth_mm` rectangle): the centre, then front-right, back-right, front-left, back-left at
`corner_fraction` of the half-spans (the cells' order TR, BR, TL, BL: each corner position loads its cell most).

What is judged is the plate as it measures, after subtracting the empty-plate baseline taken at the start of the
procedure: at every position the total read must be the mass within `mass_tolerance_pct` and the COP (four-cell
formula) where the mass stands within `cop_tolerance_mm`. Nothing in the recording applies the fitted gains, so a
plate that needs them to be right fails.

The per-cell gains (cell reads `gain * true load`) are fitted without assuming how a four-support plate shares a
load: for a still mass the true cell forces t_i satisfy only sum t_i = M and the two moment balances
sum t_i sx_i = M p, sum t_i sy_i = M q (p = 2x/W, q = 2y/D, sx/sy the cells' signs); the split's fourth degree
(the plate's twist) depends on its stiffness. With h_i = 1 / gain_i, t_i = h_i m_i makes these three equations
linear in h for every position: 15 equations, 4 unknowns, least squares. The residuals after applying the fitted
gains say whether gains explain the errors (small) or something else does (a misplaced mass, a cell that is not
linear).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from acquisition.calibration_config import PlateMassSettings
from calibration.plate_tare import CELLS
from calibration.records import CalibrationRefused
from calibration.result import ProcedureResult

PROCEDURE_VERSION = "plate-mass-1"
_SX = np.array([1.0, 1.0, -1.0, -1.0])  # TR BR TL BL: right +1
_SY = np.array([1.0, -1.0, 1.0, -1.0])  # front +1


class Position(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    x_mm: float
    y_mm: float


def positions(width_mm: float, depth_mm: float, corner_fraction: float) -> tuple[Position, ...]:
    """Centre, front-right, back-right, front-left, back-left (corner positions load TR, BR, TL, BL most)."""
    if not (width_mm > 0 and depth_mm > 0 and 0 < corner_fraction < 1):
        raise ValueError(f"need a positive plate size and 0 < corner_fraction < 1, got {width_mm!r} x {depth_mm!r}, "
                         f"{corner_fraction!r}")
    hx, hy = corner_fraction * width_mm / 2, corner_fraction * depth_mm / 2
    corners = [("front-right", hx, hy), ("back-right", hx, -hy), ("front-left", -hx, hy), ("back-left", -hx, -hy)]
    return (Position(name="centre", x_mm=0.0, y_mm=0.0),
            *(Position(name=n, x_mm=round(x, 3), y_mm=round(y, 3)) for n, x, y in corners))


def cop_mm(cells_kg: np.ndarray, width_mm: float, depth_mm: float) -> np.ndarray:
    """(k, 2) COP of (k, 4) cells by the four-cell formula (docs/devices.md)."""
    c = np.atleast_2d(np.asarray(cells_kg, dtype=np.float64))
    f = c.sum(axis=1)
    return np.column_stack([(width_mm / 2) * (c @ _SX) / f, (depth_mm / 2) * (c @ _SY) / f])


def fit_gains(measured_kg: np.ndarray, where: Sequence[Position], mass_kg: float, width_mm: float,
              depth_mm: float) -> tuple[np.ndarray, float]:
    """Per-cell gains (measured / true) from (k, 4) baseline-free readings at `where`, and the fit's rank."""
    m = np.asarray(measured_kg, dtype=np.float64)
    rows, rhs = [], []
    for j, pos in enumerate(where):
        p, q = 2 * pos.x_mm / width_mm, 2 * pos.y_mm / depth_mm
        rows += [m[j], m[j] * _SX, m[j] * _SY]
        rhs += [mass_kg, mass_kg * p, mass_kg * q]
    a, b = np.array(rows), np.array(rhs)
    h, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < 4 or np.any(h <= 0):
        raise CalibrationRefused(f"plate-mass: the readings do not determine the four cell gains (rank {rank}, "
                                 f"inverse gains {np.round(h, 4).tolist()}): was the mass placed at each position?")
    return 1.0 / h, float(rank)


def check_loaded(total_kg: float, mass_kg: float, min_fraction: float, where: str) -> None:
    if total_kg < min_fraction * mass_kg:
        raise CalibrationRefused(f"plate-mass: with the {mass_kg:g} kg mass at the {where} the plate reads "
                                 f"{total_kg:.2f} kg (less than {min_fraction:.0%} of it): was it placed?")


def _r(v: float, nd: int = 4) -> float:
    return round(float(v), nd) + 0.0  # + 0.0: no -0.0 in a record


def compute_mass(measured_kg: np.ndarray, where: Sequence[Position], settings: PlateMassSettings, *,
                 width_mm: float, depth_mm: float, baseline_kg: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 stream: str = "") -> ProcedureResult:
    """Judge the plate from the mean cells (k, 4) kg, baseline already subtracted, read with the mass at `where`."""
    m = np.asarray(measured_kg, dtype=np.float64)
    if m.shape != (len(where), 4) or not np.isfinite(m).all():
        raise CalibrationRefused(f"plate-mass: expected finite readings of 4 cells at {len(where)} positions, got "
                                 f"shape {m.shape}")
    mass = settings.mass_kg
    for j, pos in enumerate(where):
        check_loaded(float(m[j].sum()), mass, settings.min_load_fraction, pos.name)
    gains, _ = fit_gains(m, where, mass, width_mm, depth_mm)
    truth = np.array([[p.x_mm, p.y_mm] for p in where])

    def errors(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 100 * (cells.sum(axis=1) - mass) / mass, np.hypot(*(cop_mm(cells, width_mm, depth_mm) - truth).T)

    mass_err, cop_err = errors(m)
    mass_fit, cop_fit = errors(m / gains)
    gain_err = 100 * (gains - 1)
    reasons: list[str] = []
    for j, pos in enumerate(where):
        if abs(mass_err[j]) > settings.mass_tolerance_pct:
            reasons.append(f"at the {pos.name} the plate reads {m[j].sum():.3f} kg for {mass:g} kg "
                           f"({mass_err[j]:+.2f} %, tolerance +-{settings.mass_tolerance_pct:g} %)")
        if cop_err[j] > settings.cop_tolerance_mm:
            reasons.append(f"at the {pos.name} the COP is {cop_err[j]:.2f} mm from the mass (tolerance "
                           f"{settings.cop_tolerance_mm:g} mm)")
    reasons += [f"cell {name} gain error {gain_err[i]:+.2f} % (tolerance +-{settings.gain_tolerance_pct:g} %)"
                for i, name in enumerate(CELLS) if abs(gain_err[i]) > settings.gain_tolerance_pct]
    cop_meas = cop_mm(m, width_mm, depth_mm)
    return ProcedureResult(
        values={"gain": {name: _r(gains[i], 6) for i, name in enumerate(CELLS)},
                "gain_error_pct": {name: _r(gain_err[i]) for i, name in enumerate(CELLS)},
                "mass_kg": mass, "baseline_kg": {name: _r(baseline_kg[i], 6) for i, name in enumerate(CELLS)},
                "positions_mm": {p.name: [p.x_mm, p.y_mm] for p in where}, "stream": stream,
                "geometry_mm": [width_mm, depth_mm],
                "apply": "divide each cell's physical value, baseline subtracted, by gain[cell]"},
        residuals={"mass_error_pct": {p.name: _r(mass_err[j]) for j, p in enumerate(where)},
                   "cop_error_mm": {p.name: _r(cop_err[j]) for j, p in enumerate(where)},
                   "cop_measured_mm": {p.name: [_r(cop_meas[j, 0], 3), _r(cop_meas[j, 1], 3)]
                                       for j, p in enumerate(where)},
                   "max_mass_error_pct": _r(np.max(np.abs(mass_err))), "max_cop_error_mm": _r(np.max(cop_err)),
                   "after_gains": {"max_mass_error_pct": _r(np.max(np.abs(mass_fit))),
                                   "max_cop_error_mm": _r(np.max(cop_fit))}},
        reasons=reasons,
        tolerances=settings.model_dump(mode="json"),
        procedure_version=PROCEDURE_VERSION,
    )
