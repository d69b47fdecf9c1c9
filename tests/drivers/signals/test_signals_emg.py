"""EmgGenerator: determinism, chunking invariance, known RMS per step, indices, mains, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import signal

from drivers.signals import steps as S
from drivers.signals.emg import EMG_CHANNELS, EmgGenerator, indices_from_standardised
from drivers.signals.schedule import task_windows


def remove_mains(x: np.ndarray, rate: float, hz: float = 50.0, harmonics: int = 1) -> np.ndarray:
    """Least-squares removal of sinusoids at hz * k (per channel)."""
    t = np.arange(len(x)) / rate
    cols = [np.ones_like(t)]
    for k in range(1, harmonics + 1):
        cols += [np.sin(2 * np.pi * k * hz * t), np.cos(2 * np.pi * k * hz * t)]
    A = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(A, x, rcond=None)
    return x - A @ coef


def run(gen: EmgGenerator, plan: list[tuple[str, float]]) -> np.ndarray:
    out = []
    for step, dur in plan:
        gen.set_step(step, dur)
        out.append(gen.next(round(dur * gen.rate)))
    return np.vstack(out)


def rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(x**2, axis=0))


def test_shape_dtype_channels() -> None:
    g = EmgGenerator()
    x = g.next(1234)
    assert x.shape == (1234, 8) and x.dtype == np.float64
    assert g.channels == EMG_CHANNELS and g.rate == 2000.0
    assert g.next(0).shape == (0, 8)
    assert np.isfinite(x).all()


def test_deterministic_by_seed() -> None:
    plan = [(S.EMG_REST, 1.0), (S.EMG_CLENCH_ICP, 3.0)]
    a, b = run(EmgGenerator(seed=7), plan), run(EmgGenerator(seed=7), plan)
    c = run(EmgGenerator(seed=8), plan)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_chunking_invariance_across_steps() -> None:
    g1, g2 = EmgGenerator(seed=3, mains_harmonics=(0.3, 0.1)), EmgGenerator(seed=3, mains_harmonics=(0.3, 0.1))
    g1.set_step(S.EMG_CLENCH_ICP, 3.0)
    g2.set_step(S.EMG_CLENCH_ICP, 3.0)
    a = [g1.next(1000), g1.next(3000)]
    b = [g2.next(300), g2.next(700)]
    b += [g2.next(k) for k in (1, 0, 999, 2000)]
    g1.set_step(S.JAW_SWALLOW, 2.0)
    g2.set_step(S.JAW_SWALLOW, 2.0)
    a.append(g1.next(5000))
    b += [g2.next(k) for k in (1234, 3766)]
    np.testing.assert_allclose(np.vstack(a), np.vstack(b), rtol=0, atol=1e-9)


def test_rest_cotton_roll_and_clench_rms_hit_truth() -> None:
    g = EmgGenerator(seed=11)
    tr = g.truth
    rate = g.rate
    rest = remove_mains(run(g, [(S.EMG_REST, 10.0)]), rate)
    np.testing.assert_allclose(rms(rest), [tr.rest_rms_uv[c] for c in EMG_CHANNELS], rtol=0.05)

    cr = remove_mains(run(g, [(S.EMG_COTTON_ROLL, 5.0)]), rate)
    (w,) = task_windows(S.EMG_COTTON_ROLL, 5.0)
    c0, c1 = w.central(3.0)
    np.testing.assert_allclose(
        rms(cr[round(c0 * rate) : round(c1 * rate)]), [tr.cotton_roll_rms_uv[c] for c in EMG_CHANNELS], rtol=0.05
    )

    cl = remove_mains(run(g, [(S.EMG_CLENCH_ICP, 24.0)]), rate)
    measured = []
    for w in task_windows(S.EMG_CLENCH_ICP, 24.0):
        c0, c1 = w.central(3.0)
        seg_rms = rms(cl[round(c0 * rate) : round(c1 * rate)])
        np.testing.assert_allclose(seg_rms, [tr.clench_rms_uv[c] for c in EMG_CHANNELS], rtol=0.05)
        measured.append(seg_rms)
    # between repetitions the muscles are back at rest
    gap = cl[round((task_windows(S.EMG_CLENCH_ICP, 24.0)[0].off_s + 0.2) * rate) :][: round(1.0 * rate)]
    assert np.all(rms(gap) < 3 * np.array([tr.rest_rms_uv[c] for c in EMG_CHANNELS]))

    # indices from measured RMS agree with the declared truth (a few % points)
    m = dict(zip(EMG_CHANNELS, np.mean(measured, axis=0), strict=True))
    std = {c: m[c] / tr.cotton_roll_rms_uv[c] * 100 for c in ("TA_R", "TA_L", "MM_R", "MM_L")}
    idx = indices_from_standardised(std)
    for key in ("poc_ta_pct", "poc_mm_pct", "tors_pct", "asim_pct", "attiv_pct"):
        assert abs(idx[key] - getattr(tr, key)) < 2.5, key


def test_truth_indices_are_the_domain_formulas_and_asymmetric() -> None:
    tr = EmgGenerator().truth
    p = tr.clench_pct
    ta_r, ta_l, mm_r, mm_l = p["TA_R"], p["TA_L"], p["MM_R"], p["MM_L"]
    s = ta_r + ta_l + mm_r + mm_l
    assert tr.poc_ta_pct == pytest.approx(100 * (1 - abs(ta_r - ta_l) / (ta_r + ta_l)))
    assert tr.tors_pct == pytest.approx(100 * ((mm_r + ta_l) - (mm_l + ta_r)) / s)
    assert tr.asim_pct == pytest.approx(100 * ((mm_r + ta_r) - (mm_l + ta_l)) / s)
    assert tr.attiv_pct == pytest.approx(100 * ((mm_r + mm_l) - (ta_r + ta_l)) / s)
    assert tr.asim_pct > 5  # deliberate right-side dominance
    assert 80 <= tr.poc_pct <= 95
    assert all(1.4 <= v <= 1.9 for v in tr.rest_rms_uv.values())
    assert all(150 <= tr.cotton_roll_rms_uv[c] <= 220 for c in ("TA_R", "TA_L", "MM_R", "MM_L"))


def test_opening_and_swallow_activate_digastric_and_scm() -> None:
    g = EmgGenerator(seed=2, mains_uv=0.0)
    x = run(g, [(S.JAW_MAX_OPENING, 15.0)])
    w = task_windows(S.JAW_MAX_OPENING, 15.0)[0]
    seg = x[round(w.plateau_start_s * g.rate) : round(w.plateau_end_s * g.rate)]
    r = dict(zip(EMG_CHANNELS, rms(seg), strict=True))
    assert r["DA_R"] == pytest.approx(g.truth.opening_rms_uv["DA_R"], rel=0.08)
    assert r["DA_R"] > 10 * r["TA_R"]
    x = run(g, [(S.JAW_SWALLOW, 12.0)])
    w = task_windows(S.JAW_SWALLOW, 12.0)[1]
    seg = x[round((w.plateau_start_s + 4.0) * g.rate) : round((w.plateau_end_s + 4.0) * g.rate)]
    r = dict(zip(EMG_CHANNELS, rms(seg), strict=True))
    assert r["SCM_L"] == pytest.approx(g.truth.swallow_rms_uv["SCM_L"], rel=0.15)


def test_mains_amplitude_and_band_limits() -> None:
    g = EmgGenerator(seed=5, mains_uv=5.0, mains_harmonics=(0.5,))
    x = run(g, [(S.EMG_REST, 10.0)])
    t = np.arange(len(x)) / g.rate
    A = np.stack([np.sin(2 * np.pi * 50 * t), np.cos(2 * np.pi * 50 * t)], axis=1)
    coef, *_ = np.linalg.lstsq(A, x, rcond=None)
    np.testing.assert_allclose(np.hypot(*coef), 5.0, rtol=0.02)
    A2 = np.stack([np.sin(2 * np.pi * 100 * t), np.cos(2 * np.pi * 100 * t)], axis=1)
    coef2, *_ = np.linalg.lstsq(A2, x, rcond=None)
    np.testing.assert_allclose(np.hypot(*coef2), 2.5, rtol=0.04)
    quiet = run(EmgGenerator(seed=5, mains_uv=0.0), [(S.EMG_CLENCH_ICP, 24.0)])
    f, pxx = signal.welch(quiet[:, 2], fs=2000.0, nperseg=4096)
    inband = pxx[(f > 30) & (f < 400)].mean()
    assert pxx[f < 5].mean() < 0.01 * inband and pxx[f > 700].mean() < 0.01 * inband


def test_step_change_is_smooth_not_a_jump() -> None:
    g = EmgGenerator(seed=1)
    g.set_step(S.EMG_CLENCH_ICP, 24.0)
    g.next(round(4.0 * g.rate))  # mid-plateau of the first clench
    idx = np.arange(g.sample_index - 1, g.sample_index + 1)
    before = g.expected_rms(g.state, idx)[0]
    g.set_step(S.EMG_REST, 10.0)
    gains = g.expected_rms(g.state, np.arange(g.sample_index, g.sample_index + 2000))
    assert np.abs(gains[0] - before).max() < 0.5  # continuous across the switch (µV of RMS)
    assert np.abs(np.diff(gains, axis=0)).max() < 2.5  # smooth 0.3-s ramp, ~190 µV spread over 600 samples
    np.testing.assert_allclose(gains[-1], list(g.truth.rest_rms_uv.values()))


def test_bad_input_is_rejected() -> None:
    g = EmgGenerator()
    with pytest.raises(ValueError, match="n must be"):
        g.next(-1)
    with pytest.raises(ValueError, match="unknown protocol step"):
        g.set_step("clench", 5.0)
    with pytest.raises(ValueError, match="duration_s"):
        g.set_step(S.EMG_REST, -1.0)
    with pytest.raises(ValueError, match="rate"):
        EmgGenerator(rate=500.0)


def test_one_second_costs_well_under_5_ms() -> None:
    g = EmgGenerator()
    g.set_step(S.EMG_CLENCH_ICP, 24.0)
    g.next(2000)
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        g.next(2000)
        times.append(time.perf_counter() - t0)
    # min, not mean: the machine is shared; the minimum is the cost of the code itself (measured ~1.7 ms)
    assert min(times) < 0.005


def test_onset_delay_truth_is_measurable() -> None:
    g = EmgGenerator(seed=13)
    g.set_step(S.EMG_CLENCH_ICP, 160.0, repetitions=20)  # 40 on/off edges: ~4 ms precision on the lag
    x = remove_mains(g.next(round(160.0 * g.rate)), g.rate)
    k = np.ones(400) / 400  # 200-ms moving power: the same smoothing on both channels keeps their relative lag

    def envelope(c: str) -> np.ndarray:
        i = EMG_CHANNELS.index(c)
        return np.convolve(x[:, i] ** 2, k, mode="same") / g.truth.clench_rms_uv[c] ** 2

    ref, late = envelope("MM_R"), envelope("MM_L")
    edge = np.zeros(len(ref), dtype=bool)  # compare only around the ramps (plateaus carry no timing information)
    for w in task_windows(S.EMG_CLENCH_ICP, 160.0, 20):
        for t0 in (w.on_s, w.plateau_end_s):
            edge[round((t0 - 0.2) * g.rate) : round((t0 + 0.6) * g.rate)] = True
    where = np.flatnonzero(edge)
    lags = np.arange(0, 150)
    sse = [np.mean((ref[where] - late[where + L]) ** 2) for L in lags]
    measured_ms = lags[int(np.argmin(sse))] / g.rate * 1000
    assert measured_ms == pytest.approx(g.truth.onset_delay_ms["MM_L"] - g.truth.onset_delay_ms["MM_R"], abs=8)
    # and the noise-free envelopes are exact shifted copies
    i0 = g.sample_index
    g.set_step(S.EMG_CLENCH_ICP, 24.0)
    e = g.expected_rms(g.state, np.arange(i0, i0 + 48000))
    d = round(g.truth.onset_delay_ms["MM_L"] / 1000 * g.rate)
    a = (e[:, 3] ** 2 - 1.7**2) / (160.0**2 - 1.7**2)
    b = (e[:, 2] ** 2 - 1.8**2) / (215.0**2 - 1.8**2)
    np.testing.assert_allclose(a[d + 1000 :], b[1000:-d], atol=1e-9)
