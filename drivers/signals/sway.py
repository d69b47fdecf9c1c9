"""Stabilometry generator: 4 load cells (kg) of a Wii-Balance-Board-like plate under a standing subject, and the
true centre of pressure (COP, mm).

COP model (per axis, ML = x to the subject's right, AP = y forward): a unit-variance discrete-time process
    u[k] = a1 u[k-1] + q e[k]                   (Ornstein-Uhlenbeck, time constant tau_s, exact discretisation)
    v[k] = a2 v[k-1] + (1 - a2) u[k]            (first-order low-pass, time constant lp_tau_s: smooth, finite speed)
with q chosen so that Var(v) = 1 exactly (discrete Lyapunov equation), started in its stationary distribution.
COP = mean_mm + rms_mm(condition) * v, so the KNOWN statistics follow from the parameters alone:
    std(x) = rms_ml_mm, std(y) = rms_ap_mm,
    mean velocity = rate * E|dp| with dp ~ N(0, diag(s_ml^2, s_ap^2)), s^2 = rms^2 * 2 (1 - rho1)  (rho1 = lag-1
    autocorrelation of v), E|dp| = sqrt(2/pi) * s_max * E(1 - s_min^2/s_max^2) (complete elliptic integral),
    95 % confidence-ellipse area = pi * 5.991 * rms_ml * rms_ap (axes aligned: x and y are independent).
Velocity is a property of the sampled process at the generator's ``rate`` (analysis at another rate/low-pass differs).
Eyes closed multiplies both rms by ``romberg_rms_ratio`` (default 1.6 -> Romberg quotient 256 % on area, 160 % on
velocity); a change of condition cross-fades the scale over 0.5 s.

Cells from (F, x, y), board width W and depth D, with p = 2x/W, q = 2y/D (bilinear split of a point load):
    TR = F(1+p)(1+q)/4, BR = F(1+p)(1-q)/4, TL = F(1-p)(1+q)/4, BL = F(1-p)(1-q)/4
which satisfies exactly x = (W/2)[(TR+BR)-(TL+BL)]/F and y = (D/2)[(TR+TL)-(BR+BL)]/F (docs/devices.md, "Axes, cell order, COP formulas").

Steps: ``stab_eyes_open``/``stab_eyes_closed`` set the condition; ``stab_off``: the subject steps off (total load
ramps to exactly 0 over ``step_s``; COP is NaN while F == 0); any other step is "idle" = standing eyes open
(``idle_on_plate=True``, default) or off the plate (``idle_on_plate=False``). Stepping back on ramps the load up."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import linalg, signal, special

from drivers.signals import steps as S
from drivers.signals.schedule import check_n, new_step_state, raised_cosine

PLATE_CHANNELS: tuple[str, ...] = ("TR", "BR", "TL", "BL")
PLATE_UNITS: tuple[str, ...] = ("kg",) * 4
COP_CHANNELS: tuple[str, ...] = ("x_ml", "y_ap")
ELLIPSE_K95 = -2.0 * np.log(1.0 - 0.95)  # 5.991


class SwayParams(BaseModel):
    model_config = ConfigDict(frozen=True)

    rms_ml_mm: float = Field(2.5, gt=0)  # eyes open
    rms_ap_mm: float = Field(3.5, gt=0)
    romberg_rms_ratio: float = Field(1.6, gt=0)  # eyes closed / eyes open, both axes
    tau_ml_s: float = Field(1.5, gt=0)
    tau_ap_s: float = Field(2.5, gt=0)
    lp_tau_s: float = Field(0.08, gt=0)
    mean_ml_mm: float = 0.0
    mean_ap_mm: float = 5.0  # subject's COP a little in front of the board centre
    step_s: float = Field(0.8, gt=0)  # duration of stepping on/off
    condition_fade_s: float = Field(0.5, gt=0)
    cell_noise_kg: float = Field(0.0, ge=0)  # optional independent white noise on each cell (true COP excludes it)


class SwayConditionTruth(BaseModel):
    model_config = ConfigDict(frozen=True)

    rms_ml_mm: float
    rms_ap_mm: float
    mean_ml_mm: float
    mean_ap_mm: float
    mean_velocity_mm_s: float
    velocity_ml_mm_s: float  # mean |dx|/dt
    velocity_ap_mm_s: float
    ellipse_area_95_mm2: float


class SwayTruth(BaseModel):
    model_config = ConfigDict(frozen=True)

    rate: float
    mass_kg: float
    width_mm: float
    depth_mm: float
    eyes_open: SwayConditionTruth
    eyes_closed: SwayConditionTruth
    romberg_area_pct: float
    romberg_velocity_pct: float
    romberg_rms_pct: float


class _UnitAxis:
    """Unit-variance OU -> low-pass process for one axis, chunk-invariant through lfilter states."""

    def __init__(self, tau_s: float, lp_tau_s: float, rate: float) -> None:
        dt = 1.0 / rate
        self.a1 = a1 = float(np.exp(-dt / tau_s))
        self.a2 = a2 = float(np.exp(-dt / lp_tau_s))
        A = np.array([[a1, 0.0], [(1 - a2) * a1, a2]])
        B = np.array([[1.0], [1 - a2]])
        P = linalg.solve_discrete_lyapunov(A, B @ B.T)  # for q = 1
        self.q = 1.0 / np.sqrt(P[1, 1])
        self.P = P * self.q**2  # stationary covariance of (u, v), Var(v) = 1
        self.rho1 = float((A @ self.P)[1, 1])  # Cov(v_k, v_{k-1}) = lag-1 autocorrelation (unit variance)

    @property
    def step_std(self) -> float:
        """std of v[k] - v[k-1]."""
        return float(np.sqrt(2.0 * (1.0 - self.rho1)))

    def initial_zi(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        u0, v0 = np.linalg.cholesky(self.P) @ rng.standard_normal(2)
        return np.array([self.a1 * u0]), np.array([self.a2 * v0])


def mean_speed(s_x: float, s_y: float) -> float:
    """E sqrt(X^2 + Y^2) for independent zero-mean normals with std s_x, s_y."""
    a, b = max(s_x, s_y), min(s_x, s_y)
    if a == 0:
        return 0.0
    return float(np.sqrt(2.0 / np.pi) * a * special.ellipe(1.0 - (b / a) ** 2))


def cells_from_cop(
    f_kg: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, width_mm: float, depth_mm: float
) -> np.ndarray:
    """(n, 4) TR BR TL BL kg carrying total ``f_kg`` with COP (x, y) mm (bilinear split; exact WBB inverse)."""
    p = 2.0 * x_mm / width_mm
    q = 2.0 * y_mm / depth_mm
    f4 = f_kg / 4.0
    return np.stack(
        [f4 * (1 + p) * (1 + q), f4 * (1 + p) * (1 - q), f4 * (1 - p) * (1 + q), f4 * (1 - p) * (1 - q)], axis=1
    )


def cop_from_cells(cells: np.ndarray, width_mm: float = 433.0, depth_mm: float = 238.0) -> np.ndarray:
    """(n, 2) COP mm from (n, 4) TR BR TL BL by the WBB formula of docs/devices.md (NaN where the total load is 0)."""
    tr, br, tl, bl = cells.T
    f = cells.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (width_mm / 2) * ((tr + br) - (tl + bl)) / f
        y = (depth_mm / 2) * ((tr + tl) - (br + bl)) / f
    return np.stack([x, y], axis=1)


class SwayGenerator:
    """``set_step`` then ``next(n)`` -> (cells (n, 4) kg TR BR TL BL, true COP (n, 2) mm x_ml y_ap)."""

    def __init__(
        self,
        *,
        rate: float = 100.0,
        seed: int = 0,
        mass_kg: float = 70.0,
        width_mm: float = 433.0,
        depth_mm: float = 238.0,
        params: SwayParams | None = None,
        idle_on_plate: bool = True,
    ) -> None:
        if not (np.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive finite number of Hz, got {rate!r}")
        if not (0 < mass_kg < 300) or width_mm <= 0 or depth_mm <= 0:
            raise ValueError(
                f"need 0 < mass_kg < 300 and a positive board size, got {mass_kg!r}, {width_mm!r}, {depth_mm!r}"
            )
        self.rate = float(rate)
        self.mass_kg = float(mass_kg)
        self.width_mm = float(width_mm)
        self.depth_mm = float(depth_mm)
        self.channels: tuple[str, ...] = PLATE_CHANNELS
        self.units: tuple[str, ...] = PLATE_UNITS
        self.params = p = params or SwayParams()
        self.idle_on_plate = idle_on_plate
        self._rng = np.random.default_rng(seed)
        self._axes = (_UnitAxis(p.tau_ml_s, p.lp_tau_s, self.rate), _UnitAxis(p.tau_ap_s, p.lp_tau_s, self.rate))
        self._zi = [ax.initial_zi(self._rng) for ax in self._axes]
        self._i = 0
        self._state = new_step_state(S.IDLE, float("inf"), 0, None)
        # piecewise-smooth controls: (start index, from value, to value, ramp samples)
        on0 = 1.0 if idle_on_plate else 0.0
        self._load = (0, on0, on0, 1)
        self._scale = (0, 1.0, 1.0, 1)
        self.truth = self._make_truth()

    def _condition_truth(self, ratio: float) -> SwayConditionTruth:
        p = self.params
        rml, rap = p.rms_ml_mm * ratio, p.rms_ap_mm * ratio
        s_ml, s_ap = rml * self._axes[0].step_std, rap * self._axes[1].step_std
        return SwayConditionTruth(
            rms_ml_mm=rml,
            rms_ap_mm=rap,
            mean_ml_mm=p.mean_ml_mm,
            mean_ap_mm=p.mean_ap_mm,
            mean_velocity_mm_s=mean_speed(s_ml, s_ap) * self.rate,
            velocity_ml_mm_s=s_ml * np.sqrt(2 / np.pi) * self.rate,
            velocity_ap_mm_s=s_ap * np.sqrt(2 / np.pi) * self.rate,
            ellipse_area_95_mm2=float(np.pi * ELLIPSE_K95 * rml * rap),
        )

    def _make_truth(self) -> SwayTruth:
        eo = self._condition_truth(1.0)
        ec = self._condition_truth(self.params.romberg_rms_ratio)
        return SwayTruth(
            rate=self.rate,
            mass_kg=self.mass_kg,
            width_mm=self.width_mm,
            depth_mm=self.depth_mm,
            eyes_open=eo,
            eyes_closed=ec,
            romberg_area_pct=100 * ec.ellipse_area_95_mm2 / eo.ellipse_area_95_mm2,
            romberg_velocity_pct=100 * ec.mean_velocity_mm_s / eo.mean_velocity_mm_s,
            romberg_rms_pct=100 * ec.rms_ml_mm / eo.rms_ml_mm,
        )

    @property
    def step(self) -> str:
        return self._state.step

    @property
    def sample_index(self) -> int:
        return self._i

    @staticmethod
    def _ctrl(c: tuple[int, float, float, int], idx: np.ndarray) -> np.ndarray:
        start, a, b, ramp = c
        return a + (b - a) * raised_cosine((idx - start) / ramp)

    def set_step(self, step: str, duration_s: float, *, repetitions: int | None = None) -> None:
        """Switch condition from the next sample on: load and sway scale change smoothly (no jump)."""
        self._state = new_step_state(step, duration_s, self._i, repetitions)
        idx = np.array([self._i])
        load_now = float(self._ctrl(self._load, idx)[0])
        scale_now = float(self._ctrl(self._scale, idx)[0])
        on = step in (S.STAB_EYES_OPEN, S.STAB_EYES_CLOSED) or (step != S.STAB_OFF and self.idle_on_plate)
        target_scale = self.params.romberg_rms_ratio if step == S.STAB_EYES_CLOSED else 1.0
        self._load = (self._i, load_now, 1.0 if on else 0.0, max(1, round(self.params.step_s * self.rate)))
        self._scale = (self._i, scale_now, target_scale, max(1, round(self.params.condition_fade_s * self.rate)))

    def next(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``n`` samples: cells (n, 4) kg and the true COP (n, 2) mm (NaN where the plate is empty)."""
        n = check_n(n)
        if n == 0:
            return np.zeros((0, 4)), np.zeros((0, 2))
        p = self.params
        idx = np.arange(self._i, self._i + n, dtype=np.int64)
        e = self._rng.standard_normal((n, 2))
        v = np.empty((n, 2))
        for k, ax in enumerate(self._axes):
            zu, zv = self._zi[k]
            u, zu = signal.lfilter([ax.q], [1.0, -ax.a1], e[:, k], zi=zu)
            v[:, k], zv = signal.lfilter([1.0 - ax.a2], [1.0, -ax.a2], u, zi=zv)
            self._zi[k] = (zu, zv)
        scale = self._ctrl(self._scale, idx)
        x = p.mean_ml_mm + scale * p.rms_ml_mm * v[:, 0]
        y = p.mean_ap_mm + scale * p.rms_ap_mm * v[:, 1]
        f = self.mass_kg * self._ctrl(self._load, idx)
        cells = cells_from_cop(f, x, y, self.width_mm, self.depth_mm)
        if p.cell_noise_kg:
            cells = cells + p.cell_noise_kg * self._rng.standard_normal((n, 4))
        cop = np.stack([x, y], axis=1)
        cop[f == 0] = np.nan
        self._i += n
        return cells, cop
