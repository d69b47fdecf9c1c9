import numpy as np
import pytest

from drivers.stabilometry.config import PlateGeometry
from drivers.stabilometry.cop import cop_from_cells, cop_from_forces, forces_from_cop, total_load

G = PlateGeometry()


def test_cells_orientation_ispgr_axes():
    # all load on the two right cells: COP at +W/2 (subject's right); all on the two top (front) cells: +D/2
    right = np.array([[35.0, 35.0, 0.0, 0.0]])
    front = np.array([[35.0, 0.0, 35.0, 0.0]])
    np.testing.assert_allclose(cop_from_cells(right, G), [[433 / 2, 0.0]])
    np.testing.assert_allclose(cop_from_cells(front, G), [[0.0, 238 / 2]])
    np.testing.assert_allclose(cop_from_cells(np.full((1, 4), 17.5), G), [[0.0, 0.0]])


def test_cells_known_point_and_units_cancel():
    cells = np.array([[20.0, 15.0, 18.0, 17.0]])  # TR BR TL BL
    f = 70.0
    x = 433 / 2 * ((20 + 15) - (18 + 17)) / f
    y = 238 / 2 * ((20 + 18) - (15 + 17)) / f
    np.testing.assert_allclose(cop_from_cells(cells, G), [[x, y]])
    np.testing.assert_allclose(cop_from_cells(cells * 100, G), [[x, y]])  # 10 g codes give the same COP
    assert total_load(cells)[0] == pytest.approx(70.0)


def test_cells_below_min_load_is_nan_and_shape_checked():
    out = cop_from_cells(np.array([[1.0, 1.0, 1.0, 1.0], [20, 20, 20, 20]]), G, min_load=10.0)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
    with pytest.raises(ValueError, match="TR BR TL BL"):
        cop_from_cells(np.zeros((3, 3)), G)


def test_six_component_formula_and_h_in_metres():
    # Fz 700 N, COP (12, -30) mm, shear Fx 10 N, Fy -5 N, plate surface 40 mm above the origin
    h = 0.040
    fm = forces_from_cop(np.array([[12.0, -30.0]]), np.array([700.0]), h_m=h, fx_n=np.array([10.0]),
                         fy_n=np.array([-5.0]))
    fx, fy, fz, mx, my, _ = fm[0]
    assert my == pytest.approx(-(0.012 * 700) - h * 10)
    np.testing.assert_allclose(cop_from_forces(fm, h_m=h), [[12.0, -30.0]], atol=1e-9)
    # h forgotten (0) shifts the COP by h*F/Fz: the unit of h matters
    off = cop_from_forces(fm, h_m=0.0)
    assert off[0, 0] == pytest.approx(12.0 + 1000 * h * 10 / 700)
    assert np.isnan(cop_from_forces(np.array([[0, 0, 0.0, 1, 1, 0]]), h_m=h)).all()
