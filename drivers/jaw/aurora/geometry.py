"""Rigid-body maths for the jaw tracker: NDI quaternions (q0 scalar first), incisal point, ICP reference.

Incisal point in the head frame: p = T_head^-1 * T_jaw * offset_jaw, i.e.
    p_sensor = R_head^T (R_jaw @ offset + t_jaw - t_head)
then the head-frame axes are re-expressed in the anatomical convention of docs/file-format.md (jaw_incisal axes) with a fixed rotation A
(rows: x lateral +right, y vertical +up, z anteroposterior +forward): p = A @ p_sensor. Output is p - p_ICP.
All functions are vectorised over the leading axis.
"""

from __future__ import annotations

import numpy as np


def quat_normalize(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    return q / np.where(n == 0, 1.0, n)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3, 3) rotation matrices."""
    q = quat_normalize(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.empty(q.shape[:-1] + (3, 3))
    m[..., 0, 0] = 1 - 2 * (y * y + z * z)
    m[..., 0, 1] = 2 * (x * y - w * z)
    m[..., 0, 2] = 2 * (x * z + w * y)
    m[..., 1, 0] = 2 * (x * y + w * z)
    m[..., 1, 1] = 1 - 2 * (x * x + z * z)
    m[..., 1, 2] = 2 * (y * z - w * x)
    m[..., 2, 0] = 2 * (x * z - w * y)
    m[..., 2, 1] = 2 * (y * z + w * x)
    m[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0 (Shepperd's method)."""
    m = np.asarray(m, dtype=np.float64)
    flat = m.reshape(-1, 3, 3)
    out = np.empty((flat.shape[0], 4))
    for k, r in enumerate(flat):
        tr = r[0, 0] + r[1, 1] + r[2, 2]
        if tr > 0:
            s = 2.0 * np.sqrt(tr + 1.0)
            q = (0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s)
        elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
            s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
            q = ((r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s)
        elif r[1, 1] > r[2, 2]:
            s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
            q = ((r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s)
        else:
            s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
            q = ((r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s)
        out[k] = q
    out = quat_normalize(out)
    out[out[:, 0] < 0] *= -1
    return out.reshape(m.shape[:-2] + (4,))


def rot_x(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., 0, 0] = 1
    m[..., 1, 1], m[..., 1, 2], m[..., 2, 1], m[..., 2, 2] = c, -s, s, c
    return m


def rot_y(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., 1, 1] = 1
    m[..., 0, 0], m[..., 0, 2], m[..., 2, 0], m[..., 2, 2] = c, s, -s, c
    return m


def rot_z(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., 2, 2] = 1
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, -s, s, c
    return m


def check_axes(axes: np.ndarray) -> np.ndarray:
    """Validate a 3x3 head-sensor -> anatomical rotation (orthonormal, det +1)."""
    a = np.asarray(axes, dtype=np.float64)
    if a.shape != (3, 3):
        raise ValueError(f"head axes must be 3x3, got shape {a.shape}")
    if not np.allclose(a @ a.T, np.eye(3), atol=1e-6) or np.linalg.det(a) < 0:
        raise ValueError("head axes must be a proper rotation (orthonormal rows, determinant +1)")
    return a


def incisal_point(
    q_head: np.ndarray,
    t_head: np.ndarray,
    q_jaw: np.ndarray,
    t_jaw: np.ndarray,
    offset_jaw: np.ndarray,
    *,
    axes: np.ndarray | None = None,
) -> np.ndarray:
    """Incisal point in the head frame (mm), (n, 3). Inputs: (n,4) quaternions, (n,3) translations in mm (tracker
    frame), `offset_jaw` (3,) incisal point in the jaw-sensor frame; `axes` optional 3x3 head -> anatomical."""
    rh = quat_to_matrix(np.atleast_2d(q_head))
    rj = quat_to_matrix(np.atleast_2d(q_jaw))
    off = np.asarray(offset_jaw, dtype=np.float64)
    world = np.einsum("nij,j->ni", rj, off) + np.atleast_2d(t_jaw) - np.atleast_2d(t_head)
    p = np.einsum("nji,nj->ni", rh, world)  # R_head^T @ world
    if axes is not None:
        p = p @ np.asarray(axes, dtype=np.float64).T
    return p


def icp_from_samples(points: np.ndarray, *, first_n: int = 40, min_valid: int = 10) -> np.ndarray:
    """ICP reference from an 'icp' capture: the per-axis median of the first `first_n` samples (head-frame
    incisal points, mm), ignoring NaN rows (tool missing). Raises ValueError if fewer than `min_valid` are valid."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"ICP capture must be (n, 3) points, got shape {pts.shape}")
    head = pts[:first_n]
    ok = head[np.all(np.isfinite(head), axis=1)]
    if len(ok) < min_valid:
        raise ValueError(f"ICP capture has {len(ok)} valid samples in the first {first_n}; need at least {min_valid}")
    return np.median(ok, axis=0)
