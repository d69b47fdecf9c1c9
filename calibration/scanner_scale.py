"""Scale error of the facial scanner: the `scanner-scale` calibration, from a capture of a reference object.

The object is of known size: a sphere (diameter) or a gauge block (three edge lengths). The scale error is
(measured / nominal - 1) x 100 %: a scanner 2 % off gives every distance of a face 2 % too long, which is 0.7 mm on a
33-mm mouth opening. Fits:
- sphere: least squares on every vertex (algebraic fit, then the geometric distance |p - c| - r refined with
  scipy's `least_squares`); works on the partial surface a scanner sees. Residual: RMS distance from the sphere;
- block: trimesh's minimum-volume oriented bounding box; its three extents against the nominal ones (both sorted).
  Each face is then placed at the mean of the vertices nearest to it (the box itself encloses the noise's
  extremes). Residual: RMS distance of the vertices from their face (a box that is not one shows).
A fit residual above its limit means the capture is not the reference object (or it is badly scanned): failed,
whatever the scale says.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import least_squares

from acquisition.calibration_config import ScannerScaleSettings
from calibration.records import CalibrationRefused
from calibration.result import ProcedureResult

PROCEDURE_VERSION = "scanner-scale-1"
#: the settings that are limits of the judgement (copied into the record's `tolerances`)
_LIMITS = ("max_scale_error_pct", "max_fit_rms_mm", "min_vertices")


class SphereReference(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shape: Literal["sphere"] = "sphere"
    diameter_mm: float = Field(gt=0, le=1000)


class BlockReference(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shape: Literal["block"] = "block"
    size_mm: tuple[Annotated[float, Field(gt=0, le=1000)], Annotated[float, Field(gt=0, le=1000)],
                   Annotated[float, Field(gt=0, le=1000)]]


Reference = Annotated[SphereReference | BlockReference, Field(discriminator="shape")]


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, radius, RMS geometric residual) of the least-squares sphere through `points` (n, 3)."""
    p = np.asarray(points, dtype=np.float64)
    # algebraic: |p|^2 = 2 c.p + (r^2 - |c|^2), linear in (c, k)
    a = np.hstack([2.0 * p, np.ones((len(p), 1))])
    sol, *_ = np.linalg.lstsq(a, np.sum(p * p, axis=1), rcond=None)
    c0 = sol[:3]
    r0 = float(np.sqrt(max(sol[3] + c0 @ c0, 0.0)))
    fit = least_squares(lambda x: np.linalg.norm(p - x[:3], axis=1) - x[3], np.append(c0, r0), method="lm")
    c, r = fit.x[:3], float(abs(fit.x[3]))
    res = np.linalg.norm(p - c, axis=1) - r
    return c, r, float(np.sqrt(np.mean(res * res)))


def fit_block(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, float]:
    """(extents sorted descending, RMS distance of the vertices from the nearest face) of the oriented box."""
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64), process=False)
    box = mesh.bounding_box_oriented
    half = np.asarray(box.primitive.extents, dtype=np.float64) / 2.0
    local = trimesh.transform_points(mesh.vertices, np.linalg.inv(box.primitive.transform))
    # the box encloses the noise's extremes; each face is then placed at the mean of the vertices nearest to it
    gap = half - np.abs(local)
    axis = np.argmin(gap, axis=1)
    side = np.sign(local[np.arange(len(local)), axis])
    ext = np.empty(3)
    dist = np.empty(len(local))
    for k in range(3):
        planes = []
        for s in (1.0, -1.0):
            on = (axis == k) & (side == s)
            planes.append(float(np.mean(local[on, k])) if on.any() else s * half[k])
            dist[on] = local[on, k] - planes[-1]
        ext[k] = planes[0] - planes[1]
    return np.sort(ext)[::-1], float(np.sqrt(np.mean(dist * dist)))


def finite_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh without its non-finite vertices: the faces that used one are dropped, the others renumbered."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    finite = np.all(np.isfinite(v), axis=1)
    if finite.all():
        return v, f
    new_index = np.cumsum(finite) - 1
    keep = np.all(finite[f], axis=1) if len(f) else np.zeros(0, dtype=bool)
    return v[finite], new_index[f[keep]]


def reference_of(settings: ScannerScaleSettings) -> SphereReference | BlockReference:
    """The site's reference object, from the settings."""
    if settings.reference == "sphere":
        return SphereReference(diameter_mm=settings.diameter_mm)
    return BlockReference(size_mm=settings.block_mm)


def assess_scanner_scale(vertices: np.ndarray, faces: np.ndarray, reference: SphereReference | BlockReference, *,
                         settings: ScannerScaleSettings | None = None) -> ProcedureResult:
    """Scale error (%) of a capture of `reference` (vertices in mm as exported, faces as indices). Raises
    `CalibrationRefused` for a capture with fewer than `min_vertices` finite vertices (nothing to fit)."""
    tol = settings or ScannerScaleSettings()
    v = np.asarray(vertices, dtype=np.float64)
    values: dict[str, object] = {"reference": reference.model_dump(mode="json")}
    reasons: list[str] = []
    finite = np.all(np.isfinite(v), axis=1)
    if int(finite.sum()) < tol.min_vertices:
        raise CalibrationRefused(f"the capture has {int(finite.sum())} usable vertices, need at least "
                                 f"{tol.min_vertices}")
    residuals: dict[str, object] = {"vertices": int(finite.sum())}
    if isinstance(reference, SphereReference):
        _, r, rms = fit_sphere(v[finite])
        measured = 2.0 * r
        err = (measured / reference.diameter_mm - 1.0) * 100.0
        values.update(measured_diameter_mm=round(measured, 4), scale_error_pct=round(err, 4))
        what = f"diameter {measured:.2f} mm for {reference.diameter_mm:g} mm"
    else:
        ext, rms = fit_block(*finite_mesh(v, np.asarray(faces)))  # as the sphere: finite vertices only
        nominal = np.sort(np.asarray(reference.size_mm, dtype=np.float64))[::-1]
        per_axis = (ext / nominal - 1.0) * 100.0
        err = float(np.mean(per_axis))
        values.update(measured_size_mm=[round(float(x), 4) for x in ext], scale_error_pct=round(err, 4))
        residuals["axis_scale_error_pct"] = [round(float(x), 4) for x in per_axis]
        what = f"size {' x '.join(f'{x:.2f}' for x in ext)} mm for {' x '.join(f'{x:g}' for x in nominal)} mm"
    residuals["fit_rms_mm"] = round(rms, 4)
    if rms > tol.max_fit_rms_mm:
        reasons.append(f"the capture is not a {reference.shape} of the reference: the fit leaves {rms:.2f} mm RMS "
                       f"(limit {tol.max_fit_rms_mm:g} mm)")
    if abs(err) > tol.max_scale_error_pct:
        reasons.append(f"scale error {err:+.2f} % ({what}) beyond +-{tol.max_scale_error_pct:g} %")
    return ProcedureResult(values=values, residuals=residuals, reasons=reasons,
                           tolerances=tol.model_dump(mode="json", include=set(_LIMITS)),
                           procedure_version=PROCEDURE_VERSION)
