"""Centre of pressure, ISPGR axes (X mediolateral, + to the subject's right; Y anteroposterior, + forward), mm.

One module for the three platforms (formulas in docs/devices.md, "Axes, cell order, COP formulas"):

- four corner cells (Wii Balance Board geometry, cells TR BR TL BL):
  x = (W/2) [(TR + BR) - (TL + BL)] / F,  y = (D/2) [(TR + TL) - (BR + BL)] / F,  F = TR + BR + TL + BL
- six-component plate (origin at the plate centre, Z up, surface `h` above the origin):
  COPx = -(My + h Fx) / Fz,  COPy = (Mx - h Fy) / Fz  (forces N, moments N.m, h in m -> COP in m -> x1000 mm)

Where the total load is below `min_load` the COP is undefined and returned as NaN (subject off the plate).
"""

from __future__ import annotations

import numpy as np

from drivers.stabilometry.config import PlateGeometry

#: cell order shared by every stabilometry stream (hid-wiimote HAT0X, HAT0Y, HAT1X, HAT1Y)
CELLS = ("TR", "BR", "TL", "BL")
COP_CHANNELS = ("x_ml", "y_ap")
FORCE_CHANNELS = ("Fx", "Fy", "Fz", "Mx", "My", "Mz")


def total_load(cells: np.ndarray) -> np.ndarray:
    """Sum of the four cells, same unit as the cells."""
    c = np.asarray(cells, dtype=np.float64)
    return c.sum(axis=1)


def cop_from_cells(cells: np.ndarray, geometry: PlateGeometry, *, min_load: float = 1e-9) -> np.ndarray:
    """(n, 4) TR BR TL BL loads (any consistent unit) -> (n, 2) COP [x_ml, y_ap] mm; NaN below `min_load`."""
    c = np.asarray(cells, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 4:
        raise ValueError(f"cells must be (n, 4) TR BR TL BL, got shape {c.shape}")
    tr, br, tl, bl = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    f = tr + br + tl + bl
    ok = f > min_load
    safe = np.where(ok, f, 1.0)
    x = 0.5 * geometry.width_mm * ((tr + br) - (tl + bl)) / safe
    y = 0.5 * geometry.depth_mm * ((tr + tl) - (br + bl)) / safe
    out = np.column_stack([x, y])
    out[~ok] = np.nan
    return out


def cop_from_forces(fm: np.ndarray, *, h_m: float, min_fz_n: float = 1e-6) -> np.ndarray:
    """(n, 6) Fx Fy Fz Mx My Mz (N, N.m) -> (n, 2) COP [x_ml, y_ap] mm; NaN where |Fz| <= `min_fz_n`.

    Fz is the vertical load the subject applies, taken positive here (a plate that reports the reaction as a
    negative Fz must be configured/adapted before this point).
    """
    a = np.asarray(fm, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 6:
        raise ValueError(f"forces must be (n, 6) Fx Fy Fz Mx My Mz, got shape {a.shape}")
    fx, fy, fz, mx, my = a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4]
    ok = np.abs(fz) > min_fz_n
    safe = np.where(ok, fz, 1.0)
    x = -(my + h_m * fx) / safe * 1000.0
    y = (mx - h_m * fy) / safe * 1000.0
    out = np.column_stack([x, y])
    out[~ok] = np.nan
    return out


def forces_from_cop(cop_mm: np.ndarray, fz_n: np.ndarray, *, h_m: float, fx_n: np.ndarray | None = None,
                    fy_n: np.ndarray | None = None) -> np.ndarray:
    """Inverse of `cop_from_forces` (for simulators): moments that put the COP at `cop_mm` under load `fz_n`."""
    cop = np.asarray(cop_mm, dtype=np.float64) / 1000.0
    fz = np.asarray(fz_n, dtype=np.float64)
    fx = np.zeros_like(fz) if fx_n is None else np.asarray(fx_n, dtype=np.float64)
    fy = np.zeros_like(fz) if fy_n is None else np.asarray(fy_n, dtype=np.float64)
    my = -cop[:, 0] * fz - h_m * fx
    mx = cop[:, 1] * fz + h_m * fy
    return np.column_stack([fx, fy, fz, mx, my, np.zeros_like(fz)])
