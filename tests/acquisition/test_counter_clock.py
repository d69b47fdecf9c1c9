"""The online counter -> LSL-time fit: lower envelope, drift, stalls, restarts."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.clock import CounterClock


def _run(ppm: float, *, stall_every: int = 0, seconds: float = 60.0, rate: float = 1000.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    c = CounterClock(rate)
    errs = []
    batch = int(rate * 0.01)
    for k in range(1, int(seconds * 100)):
        seq = k * batch - 1
        true = 100.0 + seq / rate * (1 + ppm * 1e-6)
        delay = 0.0002 + abs(rng.normal(0, 0.0005)) + (0.08 if stall_every and k % stall_every == 0 else 0.0)
        c.update(seq, true + delay)
        errs.append(c.times(np.array([seq]))[0] - true)
    return np.asarray(errs[500:])


@pytest.mark.parametrize("ppm", [0.0, 100.0, -100.0])
def test_fit_error_stays_under_half_a_millisecond(ppm: float) -> None:
    e = _run(ppm)
    assert np.sqrt(np.mean(e**2)) < 0.5e-3
    assert e.min() > -1e-4  # never earlier than the truth by more than jitter: lower envelope


def test_stalls_do_not_drag_the_fit() -> None:
    e = _run(100.0, stall_every=97)
    assert np.sqrt(np.mean(e**2)) < 0.5e-3


def test_counter_going_back_restarts_the_fit() -> None:
    c = CounterClock(100.0)
    for k in range(1, 500):
        c.update(k, 10.0 + k / 100.0)
    c.update(3, 50.0)  # device restarted
    assert c.times(np.array([3]))[0] == pytest.approx(50.0)
    assert c.period == pytest.approx(0.01)


def test_long_runs_use_bounded_memory_and_keep_fitting() -> None:
    c = CounterClock(1000.0, window_s=5.0)
    for k in range(1, 20000):  # more observations than the arrays hold: compaction path
        c.update(k * 10, k * 0.01)
    assert c.times(np.array([199990]))[0] == pytest.approx(19999 * 0.01, abs=1e-9)
    assert c._hi - c._lo <= CounterClock._CAP


def test_times_before_update_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        CounterClock(10.0).times(np.array([1]))
