"""Every generator is chunking-invariant: any partition of the same samples gives bit-identical output."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.signals import steps as S
from drivers.signals.emg import EmgGenerator
from drivers.signals.jaw import JawGenerator
from drivers.signals.sway import SwayGenerator

PLAN = [(S.IDLE, 0.2), (S.JAW_MAX_OPENING, 1.5), (S.EMG_CLENCH_ICP, 1.0), (S.STAB_EYES_CLOSED, 1.0), (S.STAB_OFF, 0.5)]


def produce(gen: object, chunks: list[int]) -> np.ndarray:
    """Run PLAN; within each step, draw its samples in the given chunk pattern (cycled, trimmed)."""
    out = []
    for step, dur in PLAN:
        gen.set_step(step, dur)  # type: ignore[attr-defined]
        left = round(dur * gen.rate)  # type: ignore[attr-defined]
        k = 0
        while left > 0:
            n = min(chunks[k % len(chunks)], left)
            r = gen.next(n)  # type: ignore[attr-defined]
            out.append(np.hstack(r) if isinstance(r, tuple) else r)
            left -= n
            k += 1
    return np.vstack(out)


def test_next_1000_equals_300_plus_700_for_every_generator() -> None:
    for make in (lambda: EmgGenerator(seed=5), lambda: JawGenerator(seed=5), lambda: SwayGenerator(seed=5)):
        a, b = make(), make()
        x = a.next(1000)
        y1, y2 = b.next(300), b.next(700)
        if isinstance(x, tuple):
            for i in range(2):
                assert np.array_equal(x[i], np.vstack([y1[i], y2[i]]), equal_nan=True)
        else:
            assert np.array_equal(x, np.vstack([y1, y2]))


@settings(max_examples=10, deadline=None)
@given(chunks=st.lists(st.integers(1, 700), min_size=1, max_size=6), which=st.sampled_from(["emg", "jaw", "sway"]))
def test_any_chunk_pattern_gives_identical_samples(chunks: list[int], which: str) -> None:
    make = {"emg": EmgGenerator, "jaw": JawGenerator, "sway": SwayGenerator}[which]
    ref = produce(make(seed=3), [10_000])
    got = produce(make(seed=3), chunks)
    assert np.array_equal(ref, got, equal_nan=True)
