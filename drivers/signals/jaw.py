"""Mandibular-tracking generator: incisal point relative to ICP (mm) and mandible angles (deg) at 200 Hz.

Axes (docs/file-format.md, jaw_incisal): x lateral (+ subject's right), y vertical (+ up; opening is NEGATIVE y), z antero-posterior
(+ forward). Angles are derived from the incisal position with fixed, documented gains:
    pitch = pitch_deg_per_mm * (-y)   (1.0 deg/mm: +pitch = mandible rotating open)
    yaw   = yaw_deg_per_mm * x        (0.8 deg/mm: +yaw = chin turning to the subject's right)
    roll  = roll_deg_per_mm * x       (0.1 deg/mm)
Movements are minimum-jerk (zero velocity/acceleration at each end) out -> hold -> back, ``repetitions`` per step
(``schedule.task_windows``). On opening the incisor also retrudes (z = -0.2 x opening) and deviates laterally:
x rises to ``deviation_mm`` at 60 % of the opening and returns to ``deflection_mm`` at maximum opening (both to the
side ``deviation_side``), so max|x| during opening = deviation and |x| at max opening = deflection exactly.

Measurement noise is Gaussian (``noise_mm``, ``noise_deg``) CLIPPED at +-``noise_bound_mm`` (+-1.8 sigma by
default), so every measured extreme lies within ``noise_bound_mm`` (< 0.1 mm) of the noise-free truth. The truth
values are the noise-free extremes; they are reached exactly on every plateau sample."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.signals import steps as S
from drivers.signals.schedule import StepState, check_n, minimum_jerk, new_step_state, raised_cosine, window_profile

JAW_CHANNELS: tuple[str, ...] = ("x_lat", "y_vert", "z_ap", "pitch", "yaw", "roll")
JAW_UNITS: tuple[str, ...] = ("mm", "mm", "mm", "deg", "deg", "deg")

_REST_DIR = np.array([0.0, -2.4, -0.7]) / 2.5  # unit vector ICP -> rest position (mostly down, a little back)


class JawParams(BaseModel):
    """Subject parameters (defaults: an SSc-like subject with microstomia)."""

    model_config = ConfigDict(frozen=True)

    max_opening_mm: float = Field(33.0, gt=0, le=70)
    protrusion_mm: float = Field(6.0, gt=0, le=15)
    laterotrusion_r_mm: float = Field(8.0, gt=0, le=15)
    laterotrusion_l_mm: float = Field(8.0, gt=0, le=15)
    deviation_mm: float = Field(2.0, ge=0, le=10)
    deflection_mm: float = Field(1.0, ge=0, le=10)
    deviation_side: Literal["right", "left"] = "right"
    freeway_mm: float = Field(2.5, gt=0, le=8)
    swallow_excursion_mm: float = Field(2.5, gt=0, le=8)
    cotton_roll_opening_mm: float = Field(5.0, ge=0, le=15)
    opening_retrusion_ratio: float = 0.2  # z = -ratio x opening
    excursion_drop_mm: float = 1.0  # incisal guidance: y drop at full protrusion/laterotrusion
    pitch_deg_per_mm: float = 1.0
    yaw_deg_per_mm: float = 0.8
    roll_deg_per_mm: float = 0.1
    noise_mm: float = Field(0.05, ge=0)
    noise_deg: float = Field(0.02, ge=0)
    noise_bound_mm: float = Field(0.09, ge=0)

    @model_validator(mode="after")
    def _check(self) -> JawParams:
        if self.deflection_mm > self.deviation_mm:
            raise ValueError("deflection_mm must be <= deviation_mm (deviation is the max |x| during opening)")
        if self.swallow_excursion_mm > self.freeway_mm:
            raise ValueError("swallow_excursion_mm must be <= freeway_mm (the swallow closes from rest towards ICP)")
        return self


class JawTruth(BaseModel):
    """Known kinematics (noise-free; measured extremes are within ``noise_bound_mm`` of these)."""

    model_config = ConfigDict(frozen=True)

    rate: float
    max_opening_mm: float
    protrusion_mm: float
    laterotrusion_r_mm: float
    laterotrusion_l_mm: float
    deviation_mm: float
    deflection_mm: float
    deviation_side: str
    freeway_mm: float
    rest_position_mm: tuple[float, float, float]
    swallow_excursion_mm: float
    repetitions: int
    pitch_deg_per_mm: float
    yaw_deg_per_mm: float
    roll_deg_per_mm: float
    noise_mm: float
    noise_bound_mm: float


def deviation_profile(u: np.ndarray, deviation: float, deflection: float, u_peak: float = 0.6) -> np.ndarray:
    """|x| as a function of opening fraction u in [0, 1]: 0 -> deviation at u_peak -> deflection at u = 1."""
    rise = deviation * raised_cosine(u / u_peak)
    fall = deflection + (deviation - deflection) * (1.0 - raised_cosine((u - u_peak) / (1.0 - u_peak)))
    return np.where(u <= u_peak, rise, fall)


class JawGenerator:
    """``set_step`` then ``next(n)`` -> (n, 6) float64: x_lat, y_vert, z_ap (mm), pitch, yaw, roll (deg)."""

    def __init__(self, *, rate: float = 200.0, seed: int = 0, params: JawParams | None = None) -> None:
        if not (np.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive finite number of Hz, got {rate!r}")
        self.rate = float(rate)
        self.channels: tuple[str, ...] = JAW_CHANNELS
        self.units: tuple[str, ...] = JAW_UNITS
        self.params = p = params or JawParams()
        self._rng = np.random.default_rng(seed)
        self._rest = _REST_DIR * p.freeway_mm
        self._i = 0
        self._state: StepState = new_step_state(S.IDLE, float("inf"), 0, None)
        self.truth = JawTruth(
            rate=self.rate,
            max_opening_mm=p.max_opening_mm,
            protrusion_mm=p.protrusion_mm,
            laterotrusion_r_mm=p.laterotrusion_r_mm,
            laterotrusion_l_mm=p.laterotrusion_l_mm,
            deviation_mm=p.deviation_mm,
            deflection_mm=p.deflection_mm,
            deviation_side=p.deviation_side,
            freeway_mm=p.freeway_mm,
            rest_position_mm=tuple(float(v) for v in self._rest),
            swallow_excursion_mm=p.swallow_excursion_mm,
            repetitions=S.DEFAULT_REPETITIONS[S.JAW_MAX_OPENING],
            pitch_deg_per_mm=p.pitch_deg_per_mm,
            yaw_deg_per_mm=p.yaw_deg_per_mm,
            roll_deg_per_mm=p.roll_deg_per_mm,
            noise_mm=p.noise_mm,
            noise_bound_mm=p.noise_bound_mm,
        )

    @property
    def step(self) -> str:
        return self._state.step

    @property
    def state(self) -> StepState:
        return self._state

    @property
    def sample_index(self) -> int:
        return self._i

    def set_step(self, step: str, duration_s: float, *, repetitions: int | None = None) -> None:
        """Switch to ``step`` from the next sample on (0.3-s smooth blend from the current position)."""
        new = new_step_state(step, duration_s, self._i, repetitions)
        idx = np.array([self._i])
        new.blend_offset = self._position(self._state, idx) - self._position(new, idx)
        self._state = new

    def _position(self, st: StepState, idx: np.ndarray) -> np.ndarray:
        """Noise-free incisal position (n, 3) mm for absolute sample indices."""
        p = self.params
        t = st.t(idx, self.rate)
        n = len(idx)
        u = window_profile(t, st.windows, kind="minjerk") if st.windows else np.zeros(n)
        pos = np.zeros((n, 3))
        step = st.step
        if step == S.JAW_MAX_OPENING:
            side = 1.0 if p.deviation_side == "right" else -1.0
            pos[:, 0] = side * deviation_profile(u, p.deviation_mm, p.deflection_mm)
            pos[:, 1] = -p.max_opening_mm * u
            pos[:, 2] = -p.opening_retrusion_ratio * p.max_opening_mm * u
        elif step == S.JAW_PROTRUSION:
            pos[:, 1] = -p.excursion_drop_mm * u
            pos[:, 2] = p.protrusion_mm * u
        elif step in (S.JAW_LATEROTRUSION_R, S.JAW_LATEROTRUSION_L):
            amp = p.laterotrusion_r_mm if step == S.JAW_LATEROTRUSION_R else -p.laterotrusion_l_mm
            pos[:, 0] = amp * u
            pos[:, 1] = -p.excursion_drop_mm * u
        elif step == S.JAW_FREEWAY:  # ICP -> rest position (hold) -> habitual closure to ICP
            pos[:] = u[:, None] * self._rest
        elif step == S.JAW_SWALLOW:  # from rest position towards ICP by the swallow excursion
            pos[:] = self._rest * (1.0 - u[:, None] * (p.swallow_excursion_mm / p.freeway_mm))
        elif step == S.EMG_CLENCH_ICP:
            pass  # teeth together in ICP
        elif step == S.EMG_COTTON_ROLL:
            pos[:, 1] = -p.cotton_roll_opening_mm
            pos[:, 2] = -p.opening_retrusion_ratio * p.cotton_roll_opening_mm
        else:  # idle, emg_rest, stabilometry: mandibular rest position
            pos[:] = self._rest
        if st.blend_offset is not None:
            pos = pos + st.blend_offset * st.blend(t)
        return pos

    def clean(self, st: StepState, idx: np.ndarray) -> np.ndarray:
        """Noise-free (n, 6) output for a step state and absolute sample indices."""
        p = self.params
        pos = self._position(st, idx)
        ang = np.empty_like(pos)
        ang[:, 0] = -p.pitch_deg_per_mm * pos[:, 1]
        ang[:, 1] = p.yaw_deg_per_mm * pos[:, 0]
        ang[:, 2] = p.roll_deg_per_mm * pos[:, 0]
        return np.hstack([pos, ang])

    def next(self, n: int) -> np.ndarray:
        """The next ``n`` samples (n, 6) float64, continuing exactly where the last call stopped."""
        n = check_n(n)
        p = self.params
        idx = np.arange(self._i, self._i + n, dtype=np.int64)
        out = self.clean(self._state, idx)
        noise = self._rng.standard_normal((n, 6))
        noise[:, :3] = np.clip(noise[:, :3] * p.noise_mm, -p.noise_bound_mm, p.noise_bound_mm)
        noise[:, 3:] *= p.noise_deg
        out += noise
        self._i += n
        return out

    def peak_velocity_mm_s(self, step: str, duration_s: float, repetitions: int | None = None) -> float:
        """Expected noise-free peak speed of the main movement axis of ``step`` (|dy/dt| for opening, |dz/dt| for
        protrusion, |dx/dt| for laterotrusion, path speed for freeway/swallow): 1.875 x amplitude / move time."""
        from drivers.signals.schedule import task_windows

        w = task_windows(step, duration_s, repetitions)
        p = self.params
        amp = {
            S.JAW_MAX_OPENING: p.max_opening_mm,
            S.JAW_PROTRUSION: p.protrusion_mm,
            S.JAW_LATEROTRUSION_R: p.laterotrusion_r_mm,
            S.JAW_LATEROTRUSION_L: p.laterotrusion_l_mm,
            S.JAW_FREEWAY: p.freeway_mm,
            S.JAW_SWALLOW: p.swallow_excursion_mm,
        }.get(step)
        if not w or amp is None:
            return 0.0
        return float(1.875 * amp / (w[0].plateau_start_s - w[0].on_s))


__all__ = ["JAW_CHANNELS", "JAW_UNITS", "JawGenerator", "JawParams", "JawTruth", "deviation_profile", "minimum_jerk"]
