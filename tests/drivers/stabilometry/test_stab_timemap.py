import numpy as np

from drivers.stabilometry.timemap import KernelTimeMap


def test_monotonic_stamps_are_used_as_lsl_times():
    m = KernelTimeMap()
    assert m.observe(np.array([100.0, 100.01]), 100.013) == "identity"
    np.testing.assert_array_equal(m.to_lsl(np.array([100.02])), [100.02])
    assert 0.002 < m.latency_stats()["min_s"] < 0.004


def test_realtime_stamps_are_mapped_by_the_least_delayed_read():
    m = KernelTimeMap()
    epoch = 1.7e9  # CLOCK_REALTIME stamps: the ioctl to CLOCK_MONOTONIC was refused
    rng = np.random.default_rng(0)
    for i in range(200):
        tk = epoch + i * 0.01
        m.observe(np.array([tk]), 500.0 + i * 0.01 + 0.001 + rng.exponential(0.003))
    assert m.mode == "offset"
    mapped = m.to_lsl(np.array([epoch + 1.0]))[0]
    assert abs(mapped - (500.0 + 1.0 + 0.001)) < 0.0005  # the delay floor, not the mean delay
