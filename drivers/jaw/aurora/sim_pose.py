"""The simulated patient's head and mandible as the tracker sees them (ground truth for the Aurora simulator).

A head reference sensor sways slowly in the tracker frame; the mandibular sensor's pose makes the incisal point
(at `incisal_offset_mm` in the jaw-sensor frame) follow the `JawGenerator` exactly: ICP + generator xyz in the
head frame, with the generator's pitch / yaw / roll. A hand-held pointer (optional) holds its tip (at `tip_mm` in
its own frame) on the incisal point, tilted and turning a little as a hand does, its tip wandering `slip_mm`
around the point when it slips (the jaw-reference calibration's known truth: the offset it must find).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from drivers.jaw.aurora.geometry import matrix_to_quat, quat_to_matrix, rot_x, rot_y, rot_z


class JawSignal(Protocol):
    def next(self, n: int) -> np.ndarray: ...

    def set_step(self, step: str, duration_s: float) -> None: ...


def default_generator(rate: float, seed: int) -> JawSignal:
    from drivers.signals.jaw import JawGenerator  # imported lazily: the physics is only needed by a simulator

    return JawGenerator(rate=rate, seed=seed)  # type: ignore[return-value]


Pose = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class PoseModel:
    """`poses(t, row)`: (q_head, t_head, q_jaw, t_jaw) in the tracker frame for one generator row at host time t."""

    def __init__(self, incisal_offset_mm: Sequence[float], icp_head_mm: Sequence[float]) -> None:
        self.incisal_offset = np.asarray(incisal_offset_mm, dtype=np.float64)
        self.icp_head = np.asarray(icp_head_mm, dtype=np.float64)

    def poses(self, t: float, row: np.ndarray) -> Pose:
        # head: slow small sway (deg, mm) around a pose in front of the field generator
        a = 2 * math.pi * 0.11 * t
        r_head = rot_z(math.radians(1.5 * math.sin(a))) @ rot_y(math.radians(2.0 * math.sin(0.7 * a + 1))) @ rot_x(
            math.radians(20.0 + 1.0 * math.sin(1.3 * a))
        )
        t_head = np.array([10.0 + 2.0 * math.sin(0.5 * a), -20.0 + 1.5 * math.sin(0.9 * a),
                           -180.0 + 3.0 * math.sin(0.3 * a)])
        # mandible in the head frame: rotation from the generator's angles, incisal point = ICP + generator xyz
        pitch, yaw, roll = (math.radians(v) for v in row[3:6])
        r_jh = rot_x(-pitch) @ rot_y(yaw) @ rot_z(roll)
        p = self.icp_head + row[0:3]
        t_jh = p - r_jh @ self.incisal_offset
        r_jaw = r_head @ r_jh
        t_jaw = r_head @ t_jh + t_head
        return matrix_to_quat(r_head), t_head, matrix_to_quat(r_jaw), t_jaw

    def pointer_pose(self, t: float, q_jaw: np.ndarray, t_jaw: np.ndarray, tip_mm: Sequence[float],
                     slip_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(q, t) of a pointer whose tip is on the incisal point of the mandible at pose (q_jaw, t_jaw), plus a
        wander of amplitude `slip_mm` per axis (0: exactly on the point)."""
        target = quat_to_matrix(q_jaw) @ self.incisal_offset + t_jaw
        if slip_mm:
            a = 2 * math.pi * t
            target = target + slip_mm * np.array([math.sin(0.7 * a), math.cos(0.5 * a), math.sin(0.3 * a + 1.0)])
        a = 2 * math.pi * 0.23 * t
        r_ptr = rot_z(math.radians(30.0 + 3.0 * math.sin(a))) @ rot_x(math.radians(-60.0 + 2.0 * math.sin(1.3 * a)))
        return matrix_to_quat(r_ptr), target - r_ptr @ np.asarray(tip_mm, dtype=np.float64)
