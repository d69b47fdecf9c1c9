"""Timing shared by the generators: where the repetitions of a task sit inside a step, smooth ramps, and the
per-step clock that makes every generator phase-continuous and chunking-invariant.

Everything deterministic is a pure function of the absolute sample index, so ``next(1000)`` equals
``next(300)`` followed by ``next(700)``; only the noise sources carry state (RNG stream, filter state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from drivers.signals import steps as S

#: Duration (s) of the smooth blend from whatever a generator was doing to the new step's start value.
BLEND_S = 0.3


@dataclass(frozen=True)
class TaskWindow:
    """One repetition inside a step, seconds from the step start: ramp up on_s->plateau_start_s, hold, ramp down
    plateau_end_s->off_s. For EMG the plateau is full activation; for the jaw it is the held extreme position."""

    on_s: float
    plateau_start_s: float
    plateau_end_s: float
    off_s: float

    @property
    def plateau_s(self) -> float:
        return self.plateau_end_s - self.plateau_start_s

    def central(self, seconds: float) -> tuple[float, float]:
        """The central ``seconds`` of the whole contraction/movement (on..off), e.g. the central 3 s of a clench."""
        mid = 0.5 * (self.on_s + self.off_s)
        return (mid - seconds / 2, mid + seconds / 2)


# step -> (on fraction of slot, off fraction of slot, ramp seconds); swallow is special (fixed-length event)
_TIMING: dict[str, tuple[float, float, float]] = {
    S.EMG_COTTON_ROLL: (0.10, 0.90, 0.3),
    S.EMG_CLENCH_ICP: (0.15, 0.85, 0.3),
    S.JAW_MAX_OPENING: (0.12, 0.88, 1.0),
    S.JAW_PROTRUSION: (0.12, 0.88, 1.0),
    S.JAW_LATEROTRUSION_R: (0.12, 0.88, 1.0),
    S.JAW_LATEROTRUSION_L: (0.12, 0.88, 1.0),
    S.JAW_FREEWAY: (0.12, 0.88, 0.8),
}
SWALLOW_S = 1.2  # duration of one swallow (jaw excursion and DA/SCM burst), seconds
SWALLOW_RAMP_S = 0.35


def task_windows(step: str, duration_s: float, repetitions: int | None = None) -> list[TaskWindow]:
    """Where the repetitions of ``step`` happen inside a step of ``duration_s`` seconds.

    The step is cut into ``repetitions`` equal slots (default from ``steps.DEFAULT_REPETITIONS``); each slot holds one
    task: rest, ramp up, plateau, ramp down, rest. Steps without a task (rest, idle, stabilometry) have none."""
    S.check_step(step)
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be a positive finite number of seconds, got {duration_s!r}")
    reps = S.DEFAULT_REPETITIONS[step] if repetitions is None else int(repetitions)
    if reps < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions!r}")
    slot = duration_s / reps
    out: list[TaskWindow] = []
    for k in range(reps):
        t0 = k * slot
        if step == S.JAW_SWALLOW:
            on = 0.3 * slot
            off = min(on + SWALLOW_S, 0.9 * slot)
            ramp = min(SWALLOW_RAMP_S, 0.4 * (off - on))
        elif step in _TIMING:
            f_on, f_off, ramp_max = _TIMING[step]
            on, off = f_on * slot, f_off * slot
            ramp = min(ramp_max, 0.3 * (off - on))
        else:
            return []
        out.append(TaskWindow(t0 + on, t0 + on + ramp, t0 + off - ramp, t0 + off))
    return out


def raised_cosine(u: np.ndarray) -> np.ndarray:
    """0 -> 1 raised-cosine ramp for u in [0, 1] (clipped outside)."""
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def minimum_jerk(u: np.ndarray) -> np.ndarray:
    """0 -> 1 minimum-jerk position profile 10u^3 - 15u^4 + 6u^5 (zero velocity and acceleration at both ends).
    Peak velocity = 1.875 x amplitude / duration."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 + u * (-15.0 + 6.0 * u))


def window_profile(
    t: np.ndarray, windows: list[TaskWindow], *, kind: Literal["cosine", "minjerk"] = "cosine"
) -> np.ndarray:
    """Envelope in [0, 1] over times ``t`` (s from step start): 1 on each plateau, smooth ramps, 0 elsewhere."""
    ramp = raised_cosine if kind == "cosine" else minimum_jerk
    env = np.zeros_like(t, dtype=np.float64)
    if t.size == 0:
        return env
    t_lo, t_hi = float(t.min()), float(t.max())
    for w in windows:
        if w.off_s < t_lo or w.on_s > t_hi:
            continue
        up = ramp((t - w.on_s) / max(w.plateau_start_s - w.on_s, 1e-12))
        down = 1.0 - ramp((t - w.plateau_end_s) / max(w.off_s - w.plateau_end_s, 1e-12))
        inside = (t >= w.on_s) & (t <= w.off_s)
        env = np.where(inside, np.minimum(up, down), env)
    return env


@dataclass
class StepState:
    """The step a generator is in: name, duration, absolute sample index where it started, task windows, and the
    blend offset that carries the previous step's value smoothly into this one."""

    step: str = S.IDLE
    duration_s: float = float("inf")
    start_index: int = 0
    windows: list[TaskWindow] = field(default_factory=list)
    blend_offset: np.ndarray | None = None

    def t(self, idx: np.ndarray, rate: float) -> np.ndarray:
        """Seconds since the step started for absolute sample indices ``idx``."""
        return (idx - self.start_index) / rate

    def blend(self, t: np.ndarray) -> np.ndarray:
        """Weight (n, 1) of the blend offset: 1 at the step start, 0 after ``BLEND_S``."""
        if t.size == 0 or t.min() >= BLEND_S:
            return np.zeros((len(t), 1))
        return (1.0 - raised_cosine(t / BLEND_S))[:, None]


def new_step_state(step: str, duration_s: float, start_index: int, repetitions: int | None) -> StepState:
    """Validate and build a StepState (windows computed from ``task_windows``)."""
    S.check_step(step)
    if not (duration_s > 0):
        raise ValueError(f"duration_s must be > 0 seconds, got {duration_s!r}")
    windows = task_windows(step, duration_s, repetitions) if np.isfinite(duration_s) else []
    return StepState(step=step, duration_s=float(duration_s), start_index=start_index, windows=windows)


def check_n(n: int) -> int:
    """Validate a sample count for ``next(n)``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer number of samples, got {n!r}")
    return int(n)
