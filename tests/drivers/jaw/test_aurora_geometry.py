from __future__ import annotations

import numpy as np
import pytest

from drivers.jaw.aurora.geometry import check_axes, icp_from_samples, incisal_point, matrix_to_quat, quat_to_matrix, rot_x, rot_y, rot_z


def test_quaternion_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        r = rot_z(rng.uniform(-3, 3)) @ rot_y(rng.uniform(-1.5, 1.5)) @ rot_x(rng.uniform(-3, 3))
        q = matrix_to_quat(r)
        assert q[0] >= 0 and np.isclose(np.linalg.norm(q), 1)
        assert np.allclose(quat_to_matrix(q), r, atol=1e-12)


def test_incisal_point_in_head_frame() -> None:
    # head rotated 90 deg about z and shifted; jaw sensor 50 mm along head x, same orientation as head
    rh = rot_z(np.pi / 2)
    th = np.array([10.0, 20.0, 30.0])
    t_jaw = th + rh @ np.array([50.0, 0, 0])
    p = incisal_point(matrix_to_quat(rh)[None], th[None], matrix_to_quat(rh)[None], t_jaw[None], np.array([1.0, 2.0, 3.0]))
    assert np.allclose(p[0], [51.0, 2.0, 3.0])
    axes = ((0, 1, 0), (0, 0, 1), (1, 0, 0))  # anatomical x = head y, y = head z, z = head x
    p2 = incisal_point(matrix_to_quat(rh)[None], th[None], matrix_to_quat(rh)[None], t_jaw[None], np.array([1.0, 2.0, 3.0]), axes=np.array(axes, float))
    assert np.allclose(p2[0], [2.0, 3.0, 51.0])


def test_axes_and_icp_validation() -> None:
    with pytest.raises(ValueError, match="proper rotation"):
        check_axes(np.diag([1.0, 1.0, -1.0]))
    pts = np.vstack([np.full((5, 3), np.nan), np.tile([1.0, -2.0, 3.0], (30, 1))])
    assert np.allclose(icp_from_samples(pts, first_n=35), [1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match="valid samples"):
        icp_from_samples(pts[:12], first_n=12)
