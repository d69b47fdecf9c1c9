"""EMG noise floor and cotton-roll reference: the `emg-noise` calibration, computed from microvolt samples.

Two captures with the electrodes on the subject (the protocol of /work/shared/domain.md, "Jaw tracking + sEMG"):
- rest, 10 s: the noise floor of each channel = RMS (uV) of the processed signal. A channel above
  `max_rest_rms_uv` has a bad electrode contact (the protocol's rest EMG is 1.4-1.9 uV RMS); one below
  `min_rest_rms_uv` (0.5 uV) has no signal at all: a lead unplugged or an electrode off leaves the ADC on one code
  (0 uV after processing), while a live channel reads its rest plus the quantisation (~1.8 uV on a BITalino);
- the standardisation clench on 10-mm cotton rolls, 5 s: the reference level of each muscle = RMS over the central
  3 s of the clench (= 100 % for the standardised indices). An elevator (TA, MM) whose clench is not clearly above
  its own rest (`min_clench_to_rest`) was not recorded (electrode off, no clench); an elevator missing from either
  capture fails too (the standardisation needs all four).

Per visit (`calibration.records.PER_VISIT_KINDS`): these are this subject's levels with this visit's electrode
placement, recorded into the visit, never into the calibration store.

Processing, as the protocol says: demean, band-pass 20-450 Hz (Butterworth order 4, zero phase), notch at the mains
frequency and its harmonics (zero phase, each 1 Hz wide); the envelope that finds the clench is a 250 ms moving RMS.

Why the clench window is found in the signal rather than taken as the central 3 s of the capture: the subject
starts when told, a few hundred ms after the capture starts, and a window fixed on the capture would take ramp
for plateau. The window is common to every channel (from the elevators' normalised envelopes, on the LSL clock),
so the boards, each with its own clock and stream, are cut at the same moment.

The processing keeps about 96 % of the RMS of band-limited noise (the notches and the zero-phase band edges take
the rest): a value here is the RMS *after* the protocol's processing, the one the standardised indices divide by
(a common gain cancels in a % of the cotton roll).

The BITalino EMG sensor has 3.19 uV per code: its quantisation noise (code / sqrt(12) = 0.92 uV RMS, about
0.85 uV of it in band) adds to the rest RMS, which is why the rest limit is not near 1.9 uV (docs/devices.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import signal

from acquisition.calibration_config import EmgNoiseSettings
from calibration.records import CalibrationRefused
from calibration.result import ProcedureResult

PROCEDURE_VERSION = "emg-noise-1"
#: the elevators of the standardisation (the Ferrario indices use these four)
ELEVATORS: tuple[str, ...] = ("TA_R", "TA_L", "MM_R", "MM_L")


class EmgSegment(BaseModel):
    """One stream's part of a capture: `uv` (n, c) microvolts for `channels`, `t` (n,) LSL times, at `rate`;
    `missing` = samples the device lost inside it (from its sequence numbers)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    stream: str
    channels: tuple[str, ...]
    rate: float = Field(gt=0)
    uv: np.ndarray
    t: np.ndarray
    missing: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _shapes(self) -> "EmgSegment":
        if self.uv.ndim != 2 or self.uv.shape[1] != len(self.channels):
            raise ValueError(f"{self.stream}: uv must be (n, {len(self.channels)}), got {self.uv.shape}")
        if self.t.shape != (self.uv.shape[0],):
            raise ValueError(f"{self.stream}: t must be ({self.uv.shape[0]},), got {self.t.shape}")
        return self


def process(uv: np.ndarray, rate: float, tol: EmgNoiseSettings) -> np.ndarray:
    """Demean, band-pass (zero phase), notch the mains and its harmonics in the band (zero phase); (n, c)."""
    x = np.asarray(uv, dtype=np.float64)
    x = x - x.mean(axis=0)
    nyq = rate / 2.0
    high = min(tol.band_hz[1], 0.95 * nyq)
    sos = signal.butter(4, (tol.band_hz[0], high), btype="bandpass", fs=rate, output="sos")
    x = signal.sosfiltfilt(sos, x, axis=0)
    f = tol.mains_hz
    while f < min(high, nyq):
        b, a = signal.iirnotch(f, f / tol.notch_width_hz, fs=rate)
        x = signal.filtfilt(b, a, x, axis=0)
        f += tol.mains_hz
    return x


def mains_amplitude(uv: np.ndarray, rate: float, mains_hz: float) -> np.ndarray:
    """Peak amplitude (uV) of the mains fundamental in each channel of the raw capture (demeaned): a loose
    electrode picks up hum; reported, not judged (the notch removes it from the noise floor)."""
    x = np.asarray(uv, dtype=np.float64)
    x = x - x.mean(axis=0)
    ph = np.exp(-2j * np.pi * mains_hz * np.arange(len(x)) / rate)
    return 2.0 * np.abs(ph @ x) / max(len(x), 1)


def moving_rms(x: np.ndarray, rate: float, window_s: float) -> np.ndarray:
    """Centred moving RMS of each column over `window_s` seconds."""
    n = max(1, int(round(window_s * rate)))
    kernel = np.ones(n) / n
    return np.sqrt(np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, x * x))


def _longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """[start, end) of the longest run of True, or None."""
    if not mask.any():
        return None
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k])


def clench_window(clench: Sequence[EmgSegment], tol: EmgNoiseSettings) -> tuple[float, float, float] | None:
    """(start, end) LSL times of the central `clench_window_s` of the clench, and how long the clench lasted (s);
    None when no channel shows one. Found on the elevators' envelopes (every channel if none is recorded)."""
    picked = [(seg, i) for seg in clench for i, ch in enumerate(seg.channels) if ch in ELEVATORS]
    if not picked:
        picked = [(seg, i) for seg in clench for i in range(len(seg.channels))]
    seg0 = max((s for s, _ in picked), key=lambda s: len(s.t))
    t_ref = seg0.t
    if len(t_ref) < 2:
        return None
    envs = []
    for seg, i in picked:
        env = moving_rms(process(seg.uv[:, [i]], seg.rate, tol), seg.rate, tol.envelope_s)[:, 0]
        top = float(env.max())
        if top > 0:
            envs.append(np.interp(t_ref, seg.t, env / top, left=0.0, right=0.0))
    if not envs:
        return None
    run = _longest_run(np.mean(envs, axis=0) >= tol.envelope_threshold)
    if run is None:
        return None
    t0, t1 = float(t_ref[run[0]]), float(t_ref[run[1] - 1])
    mid, half = 0.5 * (t0 + t1), 0.5 * tol.clench_window_s
    return max(t0, mid - half), min(t1, mid + half), t1 - t0


def _missing_reason(segs: Sequence[EmgSegment], what: str, tol: EmgNoiseSettings) -> list[str]:
    out = []
    for seg in segs:
        total = len(seg.t) + seg.missing
        if total and seg.missing / total > tol.max_missing_fraction:
            out.append(f"{seg.stream}: {seg.missing} of {total} samples lost during the {what} capture "
                       f"(limit {tol.max_missing_fraction:.0%})")
    return out


#: below this many times its rest on every elevator, the subject did not clench: refused, not failed
_NO_CLENCH_RATIO = 2.0
#: the settings that are limits of the judgement (copied into the record's `tolerances`)
_LIMITS = ("max_rest_rms_uv", "min_rest_rms_uv", "min_clench_to_rest", "clench_window_s", "envelope_s",
           "envelope_threshold", "rest_min_s", "max_missing_fraction", "band_hz", "mains_hz", "notch_width_hz")


def assess_emg_noise(rest: Sequence[EmgSegment], clench: Sequence[EmgSegment], *,
                     settings: EmgNoiseSettings | None = None) -> ProcedureResult:
    """Noise floor per channel from `rest`, cotton-roll reference per channel from `clench`, judged against
    `settings`. Raises `CalibrationRefused` when the captures cannot be judged (empty, no clench in them)."""
    tol = settings or EmgNoiseSettings()
    if not rest or not any(len(s.t) for s in rest):
        raise CalibrationRefused("the rest capture holds no samples")
    reasons: list[str] = []
    rest_rms: dict[str, float] = {}
    mains: dict[str, float] = {}
    streams: dict[str, list[str]] = {}
    for seg in rest:
        streams[seg.stream] = list(seg.channels)
        dur = len(seg.t) / seg.rate
        if dur < tol.rest_min_s:
            reasons.append(f"{seg.stream}: rest capture of {dur:.1f} s, shorter than {tol.rest_min_s:g} s")
            if len(seg.t) < int(4 * tol.edge_s * seg.rate) + 16:
                continue
        edge = int(round(tol.edge_s * seg.rate))
        x = process(seg.uv, seg.rate, tol)[edge: len(seg.t) - edge]
        for ch, r, m in zip(seg.channels, np.sqrt(np.mean(x * x, axis=0)),
                            mains_amplitude(seg.uv, seg.rate, tol.mains_hz), strict=True):
            rest_rms[ch], mains[ch] = float(r), float(m)
    reasons += _missing_reason(rest, "rest", tol) + _missing_reason(clench, "clench", tol)
    noisy = sorted(ch for ch, r in rest_rms.items() if r > tol.max_rest_rms_uv)
    dead = sorted(ch for ch, r in rest_rms.items() if r < tol.min_rest_rms_uv)
    for ch in noisy:
        reasons.append(f"{ch}: rest noise {rest_rms[ch]:.1f} uV RMS above the {tol.max_rest_rms_uv:g} uV limit "
                       "(bad electrode contact?)")
    for ch in dead:
        reasons.append(f"{ch}: no signal at rest ({rest_rms[ch]:.2f} uV RMS, below the {tol.min_rest_rms_uv:g} uV "
                       "floor): lead unplugged or electrode off?")
    bad = sorted(noisy + dead)
    clench_rms: dict[str, float] = {}
    window = clench_window(clench, tol) if clench else None
    if window is None:
        raise CalibrationRefused("the cotton-roll capture holds no samples")
    w0, w1, lasted = window
    for seg in clench:
        x = process(seg.uv, seg.rate, tol)
        sel = (seg.t >= w0) & (seg.t <= w1)
        if not sel.any():
            reasons.append(f"{seg.stream}: no samples inside the clench window")
            continue
        for ch, r in zip(seg.channels, np.sqrt(np.mean(x[sel] ** 2, axis=0)), strict=True):
            clench_rms[ch] = float(r)
    # a dead channel has no ratio (0 / 0, or a clench over nothing): it fails above, it is not judged here
    ratio = {ch: clench_rms[ch] / rest_rms[ch] for ch in clench_rms
             if ch in rest_rms and rest_rms[ch] >= tol.min_rest_rms_uv and rest_rms[ch] > 0}
    elevators = [ch for ch in ELEVATORS if ch in ratio]
    if elevators and max(ratio[ch] for ch in elevators) < _NO_CLENCH_RATIO:
        raise CalibrationRefused(f"no clench in the cotton-roll capture (no elevator rose above "
                                 f"{_NO_CLENCH_RATIO:g} x its rest): clench on the cotton rolls and run again")
    if lasted < tol.clench_window_s:
        reasons.append(f"the clench lasted {lasted:.1f} s, less than the {tol.clench_window_s:g} s measured")
    for ch in ELEVATORS:
        if ch in ratio and ratio[ch] < tol.min_clench_to_rest:
            reasons.append(f"{ch}: cotton-roll clench {clench_rms[ch]:.1f} uV RMS is only {ratio[ch]:.1f} x its rest "
                           f"(at least {tol.min_clench_to_rest:g} x expected)")
        elif ch not in ratio and ch not in dead:
            reasons.append(f"{ch}: elevator not in both captures with a signal at rest: no cotton-roll reference "
                           f"for it (the standardisation needs {', '.join(ELEVATORS)})")
    missing = sorted(set(rest_rms) - set(clench_rms))
    if missing:
        reasons.append(f"channels {missing} are in the rest capture but not in the clench capture")
    residuals: dict[str, object] = {
        "mains_uv": mains,
        "clench_to_rest": {ch: round(v, 2) for ch, v in ratio.items()},
        "samples_missing": {s.stream: s.missing for s in (*rest, *clench) if s.missing},
    }
    t_start = min(float(s.t[0]) for s in clench if len(s.t))
    residuals["clench_window_s"] = [round(w0 - t_start, 3), round(w1 - t_start, 3)]
    residuals["clench_lasted_s"] = round(lasted, 3)
    return ProcedureResult(
        values={"rest_rms_uv": rest_rms, "cotton_roll_rms_uv": clench_rms, "bad_channels": bad, "streams": streams},
        residuals=residuals, reasons=reasons, tolerances=tol.model_dump(mode="json", include=set(_LIMITS)),
        procedure_version=PROCEDURE_VERSION)
