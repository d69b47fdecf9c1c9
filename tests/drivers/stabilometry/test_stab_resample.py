import numpy as np
import pytest

from drivers.stabilometry.resample import SwariiResampler, swarii


def _irregular(seed: int, t_end: float = 20.0):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.005, 0.02, int(t_end / 0.005)))
    return t[t < t_end] + 100.0


def _signal(t):
    return 5.0 * np.sin(2 * np.pi * 0.3 * t) + 2.0 * np.sin(2 * np.pi * 0.9 * t + 1.0) + 0.1 * t


def test_swarii_reproduces_known_signal_on_uniform_grid():
    t = _irregular(1)
    tu, vu = swarii(t, _signal(t), rate_hz=100.0, window_s=0.1)
    assert np.allclose(np.diff(tu), 0.01)
    assert np.allclose(tu * 100.0, np.round(tu * 100.0))  # absolute grid: t = k / rate
    inner = (tu > t[0] + 0.1) & (tu < t[-1] - 0.1)
    err = vu[inner] - _signal(tu[inner])
    assert np.sqrt(np.mean(err**2)) < 0.02  # signal amplitude ~7
    # a plain "nearest previous sample" hold is much worse: SWARII is doing the work
    hold = _signal(t[np.searchsorted(t, tu[inner]) - 1])
    assert np.sqrt(np.mean((hold - _signal(tu[inner])) ** 2)) > 3 * np.sqrt(np.mean(err**2))


def test_streaming_in_chunks_equals_batch():
    t = _irregular(2, 5.0)
    v = np.column_stack([_signal(t), -_signal(t)])
    r = SwariiResampler(rate_hz=100.0, window_s=0.1, n_channels=2)
    ks, vs = [], []
    for a in range(0, len(t), 37):
        r.push(t[a:a + 37], v[a:a + 37])
        k, _, vv = r.pull()
        ks.append(k)
        vs.append(vv)
    k, _, vv = r.pull(final=True)
    ks.append(k)
    vs.append(vv)
    k = np.concatenate(ks)
    vv = np.concatenate(vs)
    tu, vb = swarii(t, v, rate_hz=100.0, window_s=0.1)
    assert np.array_equal(np.diff(k), np.ones(len(k) - 1, dtype=np.int64))
    np.testing.assert_allclose(k / 100.0, tu)
    np.testing.assert_allclose(vv, vb, atol=1e-12)


def test_gap_leaves_missing_grid_points_and_counts_them():
    t = np.concatenate([np.arange(0, 1, 0.01), np.arange(3, 4, 0.01)]) + 10.003  # off the grid edges
    r = SwariiResampler(rate_hz=100.0, window_s=0.1, n_channels=1)
    r.push(t, np.ones((len(t), 1)))
    k, tu, v = r.pull(final=True)
    jumps = np.diff(k)[np.diff(k) > 1]
    assert len(jumps) == 1 and jumps[0] > 150  # the 2 s hole shows as one jump in the grid index
    assert r.empty_windows == jumps[0] - 1
    assert np.all(v == 1.0)


def test_out_of_order_samples_are_dropped_and_counted():
    r = SwariiResampler(rate_hz=100.0, window_s=0.1, n_channels=1)
    r.push(np.array([1.0, 1.01, 1.005, 1.02, np.nan]), np.zeros((5, 1)))
    assert r.out_of_order == 2


def test_constant_signal_is_exact_and_single_sample_window_returns_it():
    t = np.array([0.0, 0.2, 0.4, 0.6]) + 50
    tu, v = swarii(t, np.array([3.0, 3.0, 3.0, 3.0]), rate_hz=100.0, window_s=0.1)
    assert np.all(v == 3.0)
    assert len(tu) < 40  # windows without samples are left out, not invented


def test_bad_parameters_refused():
    with pytest.raises(ValueError):
        SwariiResampler(rate_hz=0, window_s=0.1, n_channels=1)
