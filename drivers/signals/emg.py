"""Surface-EMG generator (8 channels, µV) with known per-channel RMS for every protocol step.

Signal model, per channel c:  x_c(t) = g_c(t) * n_c(t) + mains(t)
- n_c: unit-RMS band-limited Gaussian noise (white noise through a 4th-order Butterworth band-pass 20-450 Hz whose
  state is kept across ``next`` calls, so chunks join seamlessly); scaled by the exact noise gain of the filter.
- g_c(t) = sqrt(rest_c^2 + e(t)^2 (target_c^2 - rest_c^2)): the RMS the channel has at that instant, with e(t) the
  smooth on/off envelope of the step's repetitions (``schedule.task_windows``). On a plateau the RMS is exactly
  ``target_c`` (in expectation), at rest ``rest_c``.
- mains: ``mains_uv`` PEAK amplitude sine at ``mains_hz`` (+ optional harmonics, relative amplitudes), identical on
  all channels except a small fixed phase offset per channel (0.1 rad x channel index).
- each channel's envelope is delayed by ``onset_delay_ms`` (default TA_L 15, MM_L 30, DA_L 10 ms, others 0) so the
  onset synchronism has a known truth. (A threshold detector, e.g. rest mean + 3 SD, fires somewhat after the
  envelope start, by an amount that depends on the amplitude: the truth is the envelope delay.)

Truth (:class:`EmgTruth`) gives the rest, cotton-roll and ICP-clench RMS per channel (mains excluded) and the
Ferrario indices computed from the standardised clench values (clench / cotton roll x 100 %) of the 4 elevators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import signal

from drivers.signals import steps as S
from drivers.signals.schedule import StepState, check_n, new_step_state, window_profile

EMG_CHANNELS: tuple[str, ...] = ("TA_R", "TA_L", "MM_R", "MM_L", "DA_R", "DA_L", "SCM_R", "SCM_L")
EMG_UNITS: tuple[str, ...] = ("uV",) * 8
BAND_HZ = (20.0, 450.0)
#: rest RMS of a loose electrode (`EmgParams.with_bad_electrode`): tens of uV, as a poor skin contact gives
BAD_ELECTRODE_REST_UV = 25.0


def _ch(values: Sequence[float]) -> dict[str, float]:
    return dict(zip(EMG_CHANNELS, (float(v) for v in values), strict=True))


class EmgParams(BaseModel):
    """RMS (µV, mains excluded) per channel for each activity; keys are EMG_CHANNELS."""

    model_config = ConfigDict(frozen=True)

    rest_uv: dict[str, float] = Field(default_factory=lambda: _ch((1.6, 1.5, 1.8, 1.7, 1.4, 1.5, 1.9, 1.8)))
    cotton_roll_uv: dict[str, float] = Field(default_factory=lambda: _ch((175, 170, 205, 195, 18, 17, 12, 12)))
    # deliberate left/right asymmetry: right side stronger for TA and MM (more on MM) -> known POC/TORS/ASIM/ATTIV
    clench_uv: dict[str, float] = Field(default_factory=lambda: _ch((190, 150, 215, 160, 20, 19, 14, 13)))
    opening_uv: dict[str, float] = Field(default_factory=lambda: _ch((4, 4, 5, 5, 85, 80, 8, 8)))
    protrusion_uv: dict[str, float] = Field(default_factory=lambda: _ch((6, 6, 25, 24, 40, 38, 6, 6)))
    laterotrusion_r_uv: dict[str, float] = Field(default_factory=lambda: _ch((8, 30, 12, 22, 35, 20, 6, 6)))
    laterotrusion_l_uv: dict[str, float] = Field(default_factory=lambda: _ch((30, 8, 22, 12, 20, 35, 6, 6)))
    swallow_uv: dict[str, float] = Field(default_factory=lambda: _ch((10, 10, 25, 25, 70, 68, 35, 33)))
    # envelope onset (and offset) delay of each channel relative to the task window, ms: known synchronism
    onset_delay_ms: dict[str, float] = Field(default_factory=lambda: _ch((0, 15, 0, 30, 0, 10, 0, 0)))

    def with_bad_electrode(self, channel: str, rest_uv: float = BAD_ELECTRODE_REST_UV) -> "EmgParams":
        """The same subject with a loose electrode on `channel`: its rest noise is `rest_uv` RMS (the activity on
        task plateaus is unchanged), so the truth of the noise floor is known (`EmgTruth.rest_rms_uv`)."""
        if channel not in EMG_CHANNELS:
            raise ValueError(f"unknown EMG channel {channel!r}; expected one of {', '.join(EMG_CHANNELS)}")
        if not (np.isfinite(rest_uv) and rest_uv > 0):
            raise ValueError(f"rest_uv must be a positive number of uV, got {rest_uv!r}")
        return self.model_copy(update={"rest_uv": {**self.rest_uv, channel: float(rest_uv)}})

    def vector(self, name: str) -> np.ndarray:
        d = getattr(self, name)
        missing = set(EMG_CHANNELS) - set(d)
        if missing:
            raise ValueError(f"EmgParams.{name} lacks channels {sorted(missing)}")
        return np.array([d[c] for c in EMG_CHANNELS], dtype=np.float64)


class EmgTruth(BaseModel):
    """Known values of what EmgGenerator produces. RMS values exclude mains hum and hold on task plateaus."""

    model_config = ConfigDict(frozen=True)

    rate: float
    channels: tuple[str, ...] = EMG_CHANNELS
    band_hz: tuple[float, float]
    mains_hz: float
    mains_uv: float  # peak amplitude of the fundamental
    mains_harmonics: tuple[float, ...]
    rest_rms_uv: dict[str, float]
    cotton_roll_rms_uv: dict[str, float]
    clench_rms_uv: dict[str, float]
    opening_rms_uv: dict[str, float]
    swallow_rms_uv: dict[str, float]
    clench_pct: dict[str, float]  # clench / cotton roll x 100, per channel
    poc_ta_pct: float
    poc_mm_pct: float
    poc_pct: float  # mean of POC_TA and POC_MM
    tors_pct: float
    asim_pct: float
    attiv_pct: float
    impact_pct_s: float  # mean over the 4 elevators of standardised EMG integrated over the central 3 s
    onset_delay_ms: dict[str, float]  # envelope delay per channel (the whole on/off envelope is shifted)


def indices_from_standardised(std: dict[str, float]) -> dict[str, float]:
    """Ferrario indices (docs/devices.md, EMG) from constant standardised values (% of cotton roll) of TA/MM R/L."""
    ta_r, ta_l, mm_r, mm_l = std["TA_R"], std["TA_L"], std["MM_R"], std["MM_L"]
    total = ta_r + ta_l + mm_r + mm_l
    poc_ta = (1.0 - abs(ta_r - ta_l) / (ta_r + ta_l)) * 100.0
    poc_mm = (1.0 - abs(mm_r - mm_l) / (mm_r + mm_l)) * 100.0
    return {
        "poc_ta_pct": poc_ta,
        "poc_mm_pct": poc_mm,
        "poc_pct": 0.5 * (poc_ta + poc_mm),
        "attiv_pct": ((mm_r + mm_l) - (ta_r + ta_l)) / total * 100.0,
        "tors_pct": ((mm_r + ta_l) - (mm_l + ta_r)) / total * 100.0,
        "asim_pct": ((mm_r + ta_r) - (mm_l + ta_l)) / total * 100.0,
        "impact_pct_s": total / 4.0 * 3.0,
    }


_STEP_ACTIVITY: dict[str, str] = {
    S.EMG_COTTON_ROLL: "cotton_roll_uv",
    S.EMG_CLENCH_ICP: "clench_uv",
    S.JAW_MAX_OPENING: "opening_uv",
    S.JAW_PROTRUSION: "protrusion_uv",
    S.JAW_LATEROTRUSION_R: "laterotrusion_r_uv",
    S.JAW_LATEROTRUSION_L: "laterotrusion_l_uv",
    S.JAW_SWALLOW: "swallow_uv",
}


class EmgGenerator:
    """8-channel sEMG in µV; ``set_step`` then ``next(n)`` -> (n, 8) float64 including mains hum."""

    def __init__(
        self,
        *,
        rate: float = 2000.0,
        seed: int = 0,
        mains_hz: float = 50.0,
        mains_uv: float = 5.0,
        mains_harmonics: Sequence[float] = (),
        params: EmgParams | None = None,
    ) -> None:
        if not (np.isfinite(rate) and rate >= 1000.0):
            raise ValueError(f"EMG rate must be >= 1000 Hz (band up to 450 Hz), got {rate!r}")
        if mains_uv < 0 or mains_hz <= 0:
            raise ValueError(f"mains_hz must be > 0 and mains_uv >= 0, got {mains_hz!r}, {mains_uv!r}")
        self.rate = float(rate)
        self.channels: tuple[str, ...] = EMG_CHANNELS
        self.units: tuple[str, ...] = EMG_UNITS
        self.params = params or EmgParams()
        self.mains_hz = float(mains_hz)
        self.mains_uv = float(mains_uv)
        self.mains_harmonics = tuple(float(h) for h in mains_harmonics)
        self._rng = np.random.default_rng(seed)
        self._sos = signal.butter(4, BAND_HZ, btype="bandpass", fs=self.rate, output="sos")
        self._zi = np.zeros((self._sos.shape[0], 2, 8))
        impulse = np.zeros(int(4 * self.rate))
        impulse[0] = 1.0
        self._noise_scale = 1.0 / np.sqrt(np.sum(signal.sosfilt(self._sos, impulse) ** 2))
        self._phase = 0.1 * np.arange(8)
        self._rest = self.params.vector("rest_uv")
        delay_ms = self.params.vector("onset_delay_ms")
        if np.any(delay_ms < 0) or np.any(delay_ms > 200):
            raise ValueError("onset_delay_ms must be within [0, 200] ms")
        self._delay_n = np.round(delay_ms / 1000.0 * self.rate).astype(np.int64)  # whole samples
        self._max_delay = int(self._delay_n.max())
        # start the band-pass in its stationary state (no start-up transient): run it on 0.5 s of noise
        warm = self._rng.standard_normal((int(self.rate // 2), 8))
        _, self._zi = signal.sosfilt(self._sos, warm, axis=0, zi=self._zi)
        self._i = 0
        self._state: StepState = new_step_state(S.IDLE, float("inf"), 0, None)
        self.truth = self._make_truth()

    def _make_truth(self) -> EmgTruth:
        p = self.params
        cr, cl = p.vector("cotton_roll_uv"), p.vector("clench_uv")
        std = _ch(cl / cr * 100.0)
        return EmgTruth(
            rate=self.rate,
            band_hz=BAND_HZ,
            mains_hz=self.mains_hz,
            mains_uv=self.mains_uv,
            mains_harmonics=self.mains_harmonics,
            rest_rms_uv=dict(p.rest_uv),
            cotton_roll_rms_uv=dict(p.cotton_roll_uv),
            clench_rms_uv=dict(p.clench_uv),
            opening_rms_uv=dict(p.opening_uv),
            swallow_rms_uv=dict(p.swallow_uv),
            clench_pct=std,
            onset_delay_ms=_ch(self._delay_n / self.rate * 1000.0),
            **indices_from_standardised(std),
        )

    @property
    def step(self) -> str:
        return self._state.step

    @property
    def state(self) -> StepState:
        """Current step, its start sample index and the task windows (seconds from step start)."""
        return self._state

    def set_step(self, step: str, duration_s: float, *, repetitions: int | None = None) -> None:
        """Switch to ``step`` from the next sample on; its repetitions fit in ``duration_s`` seconds."""
        new = new_step_state(step, duration_s, self._i, repetitions)
        idx = np.array([self._i])
        old_gain = self.expected_rms(self._state, idx)
        new_gain = self.expected_rms(new, idx)
        new.blend_offset = old_gain - new_gain
        self._state = new

    def expected_rms(self, st: StepState, idx: np.ndarray) -> np.ndarray:
        """Noise-free instantaneous RMS (n, 8) µV (mains excluded) for a step state at absolute sample indices."""
        if len(idx) == 0:
            return np.zeros((0, 8))
        if idx[-1] - idx[0] != len(idx) - 1:
            raise ValueError("expected_rms needs a contiguous run of sample indices")
        t = st.t(idx, self.rate)
        act = _STEP_ACTIVITY.get(st.step)
        if act is None or not st.windows:
            g = np.broadcast_to(self._rest, (len(idx), 8)).copy()
        else:
            target = self.params.vector(act)
            # evaluate the envelope once on an extended time base, then take each channel's delayed slice
            # (idx is a contiguous run of sample indices, as produced by next/set_step)
            t_ext = (np.arange(idx[0] - self._max_delay, idx[-1] + 1) - st.start_index) / self.rate
            ext = window_profile(t_ext, st.windows, kind="cosine")
            env = ext[np.arange(len(idx))[:, None] + (self._max_delay - self._delay_n)[None, :]]
            g = np.sqrt(self._rest**2 + env**2 * (target**2 - self._rest**2))
        if st.blend_offset is not None:
            g = g + st.blend_offset * st.blend(t)
        return g

    def mains(self, idx: np.ndarray) -> np.ndarray:
        """Mains hum (n, 8) µV at absolute sample indices ``idx``."""
        t = (idx / self.rate)[:, None]
        out = self.mains_uv * np.sin(2 * np.pi * self.mains_hz * t + self._phase)
        for k, rel in enumerate(self.mains_harmonics, start=2):
            out += rel * self.mains_uv * np.sin(2 * np.pi * k * self.mains_hz * t + k * self._phase)
        return out

    def next(self, n: int) -> np.ndarray:
        """The next ``n`` samples, (n, 8) float64 µV, continuing exactly where the last call stopped."""
        n = check_n(n)
        if n == 0:
            return np.zeros((0, 8))
        idx = np.arange(self._i, self._i + n, dtype=np.int64)
        white = self._rng.standard_normal((n, 8))
        carrier, self._zi = signal.sosfilt(self._sos, white, axis=0, zi=self._zi)
        out = carrier * self._noise_scale * self.expected_rms(self._state, idx)
        if self.mains_uv:
            out += self.mains(idx)
        self._i += n
        return out

    @property
    def sample_index(self) -> int:
        """Absolute index of the next sample to be produced."""
        return self._i
