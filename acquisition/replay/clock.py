"""`ReplayClock`: the virtual LSL clock of a deterministic replay, and the horizon up to which sources hand over.

Why one object for both: a recorded sample or event "has arrived" exactly when the recording's clock has passed
its `t_lsl`. The replay driver moves the clock forward to exact times (the original's step boundaries, event
times, regular ticks); the session manager stamps what it regenerates (step events, `source.started` ...) with
`clock()`, so they get the original's times bit for bit; the replay sources hand over what is recorded up to
`clock()` and nothing later. The driver then waits (bounded) until every source has handed over what is due, so
the pipeline sets the pace: as fast as it goes, never faster than it takes.

Threads: the driver calls `advance`; the sources' reader threads wait for it in `wait_change` and report what
they handed over with `notify`; the driver waits for that in `wait_until`. One condition variable serves all.
Reading the time is a plain attribute read (a float assignment is atomic in CPython): the session calls the
clock on every event and chunk.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class ReplayClock:
    """A monotonic virtual clock (`clock()` is the time now) that only `advance` moves."""

    def __init__(self, t0: float) -> None:
        if not math.isfinite(t0):
            raise ValueError(f"replay clock start must be a finite time, got {t0!r}")
        self._t = float(t0)
        self._generation = 0  # bumped by every change a waiting source must look at
        self._cond = threading.Condition()

    def __call__(self) -> float:
        return self._t

    @property
    def generation(self) -> int:
        return self._generation

    def advance(self, t: float) -> float:
        """Move the clock to `t` if that is later (it never goes back); returns the time now."""
        with self._cond:
            if t > self._t:
                self._t = float(t)
                self._generation += 1
                self._cond.notify_all()
            return self._t

    def notify(self) -> None:
        """Something a waiter may look at changed (a source handed chunks over, was told to stop or closed)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait_change(self, generation: int, timeout: float) -> int:
        """Wait at most `timeout` s for a change after `generation`; the generation now."""
        with self._cond:
            if self._generation == generation and timeout > 0:
                self._cond.wait(timeout)
            return self._generation

    def wait_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Wait at most `timeout_s` (real seconds) for `done()`, re-checked at every change; its last value."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return done()
                self._cond.wait(min(left, 0.5))
            return True
