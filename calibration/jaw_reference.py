"""Incisal offset and intercuspal (ICP) reference: the `jaw-reference` calibration, computed from tracked poses.

Captured on the patient at the start of the jaw battery, so it holds for one visit (`PER_VISIT_KINDS`):
1. the incisal offset: the tip of a tracked pointer is held on the lower incisal point (mouth slightly open). Each
   frame gives the tip in the mandibular-sensor frame, o = R_jaw^T (R_ptr tip + t_ptr - t_jaw); the offset is the
   per-axis median, its spread (RMS distance of the frames from it) says whether the tip stayed on the point;
2. the ICP reference: the patient closes in maximal intercuspation and holds. Each frame gives the incisal point in
   the anatomical head frame, p = A R_head^T (R_jaw o + t_jaw - t_head) (`A` = the configured head axes, as the
   driver computes `jaw_incisal`); ICP is the per-axis median, its spread says whether the patient held still.
Why a pointer: the offset is where the incisors are relative to a sensor bonded on them or on a chin clip, which
no movement of the mandible reveals; digitising it is how tracked-jaw systems find it.

Poses come in as the tracker reports them: unit quaternions (q0 scalar first, as NDI) and translations in mm,
tracker frame; a frame where a tool is missing is left out (`valid`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from scipy.spatial.transform import Rotation

from acquisition.calibration_config import JawReferenceSettings
from calibration.records import CalibrationRefused
from calibration.result import ProcedureResult

PROCEDURE_VERSION = "jaw-reference-1"
#: the settings that are limits of the judgement (copied into the record's `tolerances`)
_LIMITS = ("min_frames", "max_offset_spread_mm", "max_icp_spread_mm", "offset_range_mm", "max_tool_error_mm")


class ToolTrack(BaseModel):
    """One tool over a capture: `q` (n, 4) w x y z, `t` (n, 3) mm, `valid` (n,) bool, `error` (n,) mm RMS."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    q: np.ndarray
    t: np.ndarray
    valid: np.ndarray
    error: np.ndarray

    @model_validator(mode="after")
    def _shapes(self) -> "ToolTrack":
        n = self.q.shape[0] if self.q.ndim == 2 else -1
        if self.q.shape != (n, 4) or self.t.shape != (n, 3) or self.valid.shape != (n,) or self.error.shape != (n,):
            raise ValueError(f"tool track shapes must be q (n, 4), t (n, 3), valid and error (n,); got "
                             f"{self.q.shape}, {self.t.shape}, {self.valid.shape}, {self.error.shape}")
        return self

    def rotations(self, sel: np.ndarray) -> Rotation:
        q = self.q[sel]
        return Rotation.from_quat(q[:, [1, 2, 3, 0]])  # scipy wants scalar last


def _spread(points: np.ndarray, centre: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((points - centre) ** 2, axis=1)))) if len(points) else float("nan")


def incisal_offsets(jaw: ToolTrack, pointer: ToolTrack, tip_mm: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pointer tip in the mandibular-sensor frame (k, 3) and the frames used (n,) bool."""
    sel = jaw.valid & pointer.valid
    tip_world = pointer.rotations(sel).apply(np.asarray(tip_mm, dtype=np.float64)) + pointer.t[sel]
    return jaw.rotations(sel).inv().apply(tip_world - jaw.t[sel]), sel


def incisal_points(head: ToolTrack, jaw: ToolTrack, offset_mm: Sequence[float],
                   head_axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame incisal point in the anatomical head frame (k, 3) and the frames used (n,) bool."""
    sel = head.valid & jaw.valid
    world = jaw.rotations(sel).apply(np.asarray(offset_mm, dtype=np.float64)) + jaw.t[sel] - head.t[sel]
    return head.rotations(sel).inv().apply(world) @ np.asarray(head_axes, dtype=np.float64).T, sel


def assess_jaw_reference(*, pointer_capture: tuple[ToolTrack, ToolTrack], icp_capture: tuple[ToolTrack, ToolTrack],
                         pointer_tip_mm: Sequence[float], head_axes: Sequence[Sequence[float]] | None = None,
                         settings: JawReferenceSettings | None = None) -> ProcedureResult:
    """`pointer_capture` = (jaw, pointer) tracks while the tip is on the incisal point; `icp_capture` = (head,
    jaw) tracks while the patient holds ICP. Returns the offset (jaw-sensor frame) and ICP (head frame), mm.
    Raises `CalibrationRefused` when a capture has fewer than `min_frames` frames with its tools tracked."""
    tol = settings or JawReferenceSettings()
    axes = np.eye(3) if head_axes is None else np.asarray(head_axes, dtype=np.float64)
    reasons: list[str] = []
    jaw_p, ptr = pointer_capture
    offsets, sel_p = incisal_offsets(jaw_p, ptr, pointer_tip_mm)
    values: dict[str, object] = {"pointer_tip_mm": [float(v) for v in pointer_tip_mm],
                                 "head_axes": axes.round(9).tolist()}
    residuals: dict[str, object] = {"pointer_frames": int(sel_p.sum()), "pointer_frames_total": int(len(sel_p))}
    if len(offsets) < tol.min_frames:
        raise CalibrationRefused(f"{len(offsets)} of {len(sel_p)} frames with the jaw sensor and the "
                                 f"pointer both tracked, need at least {tol.min_frames}: is the pointer in the field?")
    offset = np.median(offsets, axis=0)
    spread_o = _spread(offsets, offset)
    norm = float(np.linalg.norm(offset))
    values["incisal_offset_mm"] = [round(float(v), 4) for v in offset]
    residuals.update(offset_spread_mm=round(spread_o, 4), offset_norm_mm=round(norm, 3))
    if spread_o > tol.max_offset_spread_mm:
        reasons.append(f"pointer capture: the tip moved {spread_o:.2f} mm RMS around the incisal point "
                       f"(limit {tol.max_offset_spread_mm:g} mm): hold the pointer still on the point")
    lo, hi = tol.offset_range_mm
    if not lo <= norm <= hi:
        reasons.append(f"incisal offset {norm:.1f} mm from the jaw sensor is outside {lo:g}-{hi:g} mm "
                       "(wrong pointer tip, or the pointer was not on the incisors?)")
    head, jaw_i = icp_capture
    points, sel_i = incisal_points(head, jaw_i, offset, axes)
    residuals.update(icp_frames=int(sel_i.sum()), icp_frames_total=int(len(sel_i)))
    if len(points) < tol.min_frames:
        raise CalibrationRefused(f"{len(points)} of {len(sel_i)} ICP frames with both sensors "
                                 f"tracked, need at least {tol.min_frames}: are the sensors in the field?")
    icp = np.median(points, axis=0)
    spread_i = _spread(points, icp)
    values["icp_mm"] = [round(float(v), 4) for v in icp]
    residuals["icp_spread_mm"] = round(spread_i, 4)
    if spread_i > tol.max_icp_spread_mm:
        reasons.append(f"ICP capture: the incisal point moved {spread_i:.2f} mm RMS (limit "
                       f"{tol.max_icp_spread_mm:g} mm): the teeth were not held together in ICP")
    errs = [float(np.max(tr.error[sel])) for tr, sel in ((jaw_p, sel_p), (ptr, sel_p), (head, sel_i), (jaw_i, sel_i))
            if sel.any()]
    if errs:
        residuals["max_tool_error_mm"] = round(max(errs), 4)
        if max(errs) > tol.max_tool_error_mm:
            reasons.append(f"the tracker reported a tool error of {max(errs):.2f} mm RMS (limit "
                           f"{tol.max_tool_error_mm:g} mm): metal or a field disturbance near the sensors?")
    return ProcedureResult(values=values, residuals=residuals, reasons=reasons,
                           tolerances=tol.model_dump(mode="json", include=set(_LIMITS)),
                           procedure_version=PROCEDURE_VERSION)
