"""SwayGenerator: WBB-consistent cells, parametric sway statistics, Romberg, stepping off/on, chunking."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.signals import steps as S
from drivers.signals.sway import PLATE_CHANNELS, SwayGenerator, SwayParams, cop_from_cells


def test_shapes_and_labels() -> None:
    g = SwayGenerator()
    cells, cop = g.next(250)
    assert cells.shape == (250, 4) and cop.shape == (250, 2)
    assert cells.dtype == cop.dtype == np.float64
    assert PLATE_CHANNELS == ("TR", "BR", "TL", "BL")
    c0, p0 = g.next(0)
    assert c0.shape == (0, 4) and p0.shape == (0, 2)


def test_deterministic_and_chunking_invariant() -> None:
    def seq(chunks: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        g = SwayGenerator(seed=seed)
        cs, ps = [], []
        for step in (S.STAB_EYES_OPEN, S.STAB_EYES_CLOSED, S.STAB_OFF, S.STAB_EYES_OPEN):
            g.set_step(step, 10.0)
            for k in chunks:
                c, p = g.next(k)
                cs.append(c)
                ps.append(p)
        return np.vstack(cs), np.vstack(ps)

    a, b = seq([1000], 1), seq([300, 700], 1)
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=0, atol=1e-12)
    assert np.array_equal(seq([1000], 1)[0], a[0])
    assert not np.allclose(seq([1000], 2)[0], a[0])


@pytest.mark.parametrize(("mass", "w", "d"), [(70.0, 433.0, 238.0), (52.5, 400.0, 400.0)])
def test_cells_reproduce_true_cop_by_the_wbb_formula(mass: float, w: float, d: float) -> None:
    g = SwayGenerator(seed=3, mass_kg=mass, width_mm=w, depth_mm=d)
    g.set_step(S.STAB_EYES_CLOSED, 60.0)
    cells, cop = g.next(6000)
    np.testing.assert_allclose(cop_from_cells(cells, w, d), cop, rtol=0, atol=1e-9)
    np.testing.assert_allclose(cells.sum(axis=1), mass, rtol=1e-12)
    assert (cells > 0).all()


@pytest.mark.parametrize("step", [S.STAB_EYES_OPEN, S.STAB_EYES_CLOSED])
def test_long_run_statistics_match_parametric_truth(step: str) -> None:
    g = SwayGenerator(seed=21)
    cond = g.truth.eyes_open if step == S.STAB_EYES_OPEN else g.truth.eyes_closed
    g.set_step(step, 2000.0)
    g.next(200)  # skip the 0.5-s condition cross-fade
    _, cop = g.next(150_000)  # 1500 s
    assert cop[:, 0].std() == pytest.approx(cond.rms_ml_mm, rel=0.15)
    assert cop[:, 1].std() == pytest.approx(cond.rms_ap_mm, rel=0.15)
    assert cop.mean(axis=0) == pytest.approx([cond.mean_ml_mm, cond.mean_ap_mm], abs=0.6)
    speed = np.linalg.norm(np.diff(cop, axis=0), axis=1) * g.rate
    assert speed.mean() == pytest.approx(cond.mean_velocity_mm_s, rel=0.05)


def test_parametric_truth_is_from_parameters_and_romberg_in_range() -> None:
    p = SwayParams(rms_ml_mm=3.0, rms_ap_mm=4.0, romberg_rms_ratio=1.5)
    tr = SwayGenerator(params=p).truth
    assert tr.eyes_open.rms_ml_mm == 3.0 and tr.eyes_closed.rms_ap_mm == pytest.approx(6.0)
    assert tr.eyes_open.ellipse_area_95_mm2 == pytest.approx(np.pi * 5.991464547 * 12.0)
    assert tr.romberg_area_pct == pytest.approx(225.0)
    default = SwayGenerator().truth
    assert 200 <= default.romberg_area_pct <= 300
    assert default.eyes_closed.mean_velocity_mm_s > default.eyes_open.mean_velocity_mm_s > 5


def test_stepping_off_and_back_on() -> None:
    g = SwayGenerator(seed=4, mass_kg=80.0)
    g.set_step(S.STAB_EYES_OPEN, 5.0)
    c, _ = g.next(500)
    assert c.sum(axis=1) == pytest.approx(80.0)
    g.set_step(S.STAB_OFF, 5.0)
    c, cop = g.next(500)
    load = c.sum(axis=1)
    assert np.all(np.diff(load) <= 1e-9) and load[0] > 79  # smooth monotone unloading
    assert np.all(load[100:] == 0.0) and np.isnan(cop[100:]).all()
    g.set_step(S.STAB_EYES_CLOSED, 5.0)
    c, cop = g.next(500)
    assert c[100:].sum(axis=1) == pytest.approx(80.0) and np.isfinite(cop[100:]).all()


def test_idle_is_standing_or_off_by_option() -> None:
    c, _ = SwayGenerator().next(10)
    assert c.sum(axis=1) == pytest.approx(70.0)
    c, cop = SwayGenerator(idle_on_plate=False).next(10)
    assert (c == 0).all() and np.isnan(cop).all()


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="mass_kg"):
        SwayGenerator(mass_kg=0)
    with pytest.raises(ValueError, match="n must be"):
        SwayGenerator().next(-5)
