"""JawGenerator: determinism, chunking, exact extremes per step, noise bound, smoothness, angle gains."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.signals import steps as S
from drivers.signals.jaw import JAW_CHANNELS, JAW_UNITS, JawGenerator, JawParams
from drivers.signals.schedule import task_windows

X, Y, Z, PITCH, YAW, ROLL = range(6)


def run(g: JawGenerator, step: str, dur: float) -> np.ndarray:
    g.set_step(step, dur)
    return g.next(round(dur * g.rate))


def plateaus(step: str, dur: float, rate: float) -> list[slice]:
    return [
        slice(round(w.plateau_start_s * rate) + 1, round(w.plateau_end_s * rate) - 1) for w in task_windows(step, dur)
    ]


def test_shape_dtype_and_labels() -> None:
    g = JawGenerator()
    x = g.next(500)
    assert x.shape == (500, 6) and x.dtype == np.float64
    assert JAW_CHANNELS == ("x_lat", "y_vert", "z_ap", "pitch", "yaw", "roll")
    assert JAW_UNITS == ("mm", "mm", "mm", "deg", "deg", "deg")
    assert g.next(0).shape == (0, 6)


def test_deterministic_by_seed_and_chunking_invariant() -> None:
    def seq(chunks: list[int], seed: int) -> np.ndarray:
        g = JawGenerator(seed=seed)
        out = [g.next(50)]
        g.set_step(S.JAW_MAX_OPENING, 15.0)
        out += [g.next(k) for k in chunks]
        g.set_step(S.JAW_SWALLOW, 6.0)
        out += [g.next(k) for k in chunks]
        return np.vstack(out)

    a, b = seq([1000], 4), seq([300, 700], 4)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert np.array_equal(seq([1000], 4), a)
    assert not np.allclose(seq([1000], 5), a)


def test_max_opening_hits_truth_each_repetition() -> None:
    g = JawGenerator(seed=1)
    tr = g.truth
    x = run(g, S.JAW_MAX_OPENING, 15.0)
    assert abs(-x[:, Y].min() - tr.max_opening_mm) <= 0.1
    for sl in plateaus(S.JAW_MAX_OPENING, 15.0, g.rate):
        assert abs(-x[sl, Y].min() - tr.max_opening_mm) <= 0.1
        assert abs(np.mean(np.abs(x[sl, X])) - tr.deflection_mm) < 0.02  # deflection = |x| at max opening
    assert abs(np.abs(x[:, X]).max() - tr.deviation_mm) <= 0.1  # deviation = max |x| during opening
    assert x[np.argmax(np.abs(x[:, X])), X] > 0  # to the right by default
    # back in ICP between repetitions and at the end
    assert np.abs(x[-20:, :3]).max() < 0.1


def test_excursions_hit_truth() -> None:
    g = JawGenerator(seed=2, params=JawParams(protrusion_mm=7.0, laterotrusion_r_mm=9.0, laterotrusion_l_mm=6.5))
    tr = g.truth
    x = run(g, S.JAW_PROTRUSION, 12.0)
    assert abs(x[:, Z].max() - tr.protrusion_mm) <= 0.1 and tr.protrusion_mm == 7.0
    x = run(g, S.JAW_LATEROTRUSION_R, 12.0)
    assert abs(x[:, X].max() - tr.laterotrusion_r_mm) <= 0.1
    assert x[:, YAW].max() == pytest.approx(tr.yaw_deg_per_mm * tr.laterotrusion_r_mm, abs=0.1)
    x = run(g, S.JAW_LATEROTRUSION_L, 12.0)
    assert abs(-x[:, X].min() - tr.laterotrusion_l_mm) <= 0.1


def test_freeway_and_swallow() -> None:
    g = JawGenerator(seed=3)
    tr = g.truth
    assert np.linalg.norm(tr.rest_position_mm) == pytest.approx(tr.freeway_mm)
    x = run(g, S.JAW_FREEWAY, 15.0)
    for sl in plateaus(S.JAW_FREEWAY, 15.0, g.rate):
        rest = x[sl, :3].mean(axis=0)
        assert np.linalg.norm(rest) == pytest.approx(tr.freeway_mm, abs=0.03)  # |p_rest - p_ICP|
    assert np.abs(x[-20:, :3]).max() < 0.1  # habitual closure back to ICP
    x = run(g, S.JAW_SWALLOW, 12.0)
    clean_rest = np.array(tr.rest_position_mm)
    moved = np.linalg.norm(x[:, :3] - clean_rest, axis=1)
    assert moved.max() == pytest.approx(tr.swallow_excursion_mm, abs=0.15)
    x = run(g, S.IDLE, 2.0)
    np.testing.assert_allclose(x[-50:, :3].mean(axis=0), clean_rest, atol=0.03)


def test_noise_is_small_and_bounded() -> None:
    g = JawGenerator(seed=9)
    g.set_step(S.JAW_MAX_OPENING, 15.0)
    start = g.sample_index
    x = g.next(3000)
    clean = g.clean(g.state, np.arange(start, start + 3000))
    err = x[:, :3] - clean[:, :3]
    assert np.abs(err).max() <= g.truth.noise_bound_mm + 1e-9 < 0.1
    assert 0.03 < err.std() < 0.06


def test_motion_is_smooth_with_expected_peak_velocity() -> None:
    g = JawGenerator(seed=0)
    out = []
    for step, dur in [(S.IDLE, 1.0), (S.JAW_MAX_OPENING, 15.0), (S.JAW_PROTRUSION, 12.0), (S.JAW_SWALLOW, 12.0)]:
        g.set_step(step, dur)
        start = g.sample_index
        n = round(dur * g.rate)
        out.append(g.clean(g.state, np.arange(start, start + n)))
        g.next(n)
    clean = np.vstack(out)
    step_mm = np.abs(np.diff(clean[:, :3], axis=0)).max()
    assert step_mm < 0.4  # <= 80 mm/s at 200 Hz, including the step-change blends
    vy = np.abs(np.diff(out[1][:, Y])) * g.rate
    assert vy.max() == pytest.approx(g.peak_velocity_mm_s(S.JAW_MAX_OPENING, 15.0), rel=0.02)


def test_angles_track_position() -> None:
    g = JawGenerator(seed=0, params=JawParams(noise_mm=0.0, noise_deg=0.0))
    x = run(g, S.JAW_MAX_OPENING, 15.0)
    np.testing.assert_allclose(x[:, PITCH], -g.truth.pitch_deg_per_mm * x[:, Y], atol=1e-12)
    np.testing.assert_allclose(x[:, ROLL], g.truth.roll_deg_per_mm * x[:, X], atol=1e-12)


def test_bad_params_are_rejected() -> None:
    with pytest.raises(ValueError, match="deflection_mm must be <= deviation_mm"):
        JawParams(deviation_mm=1.0, deflection_mm=2.0)
    with pytest.raises(ValueError):
        JawParams(max_opening_mm=-3)
    with pytest.raises(ValueError, match="unknown protocol step"):
        JawGenerator().set_step("open", 3.0)
