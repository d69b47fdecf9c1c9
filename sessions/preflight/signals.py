"""The gates that judge a few seconds of live signal: `emg_rest_noise`, `plate_unloaded`, `lsl_clock`.

Pure functions of the samples (arrays in, `GateResult` out): `sessions.preflight.live` takes the samples from the
opened sources (`calibration.capture`), tests pass arrays.

- EMG: the noise floor of each channel at rest is the RMS of the signal after the protocol's processing, computed
  by `calibration.emg_noise.process` (band-pass, mains notches: the same filter as the `emg-noise` calibration and
  the analyses, never a second copy), on ~2 s with the filter's start-up edges left out.
- Plate: the mean total load (the cells' physical values, through the stream's scale and offset; minus the tare in
  force when there is one) must be near zero: nobody on the plate, and its zero has not drifted since the tare.
- LSL: for each stream recorded from an LSL inlet, the spread (max - min) of the `time_correction()` values the
  inlet measured (`lsl.time_correction` events, payload `offset_s`): a spread above a few ms means the network or
  the sending machine's clock is not steady enough to align that stream with the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from acquisition.calibration_config import EmgNoiseSettings
from acquisition.events import Event
from acquisition.preflight_config import PreflightSettings
from calibration.emg_noise import EmgSegment, process
from sessions.preflight.result import GateResult, gate, not_applicable

#: the inlet's events carrying its clock offsets (acquisition/lsl/inlet.py)
TIME_CORRECTION = "lsl.time_correction"
TIME_CORRECTION_FAILED = "lsl.time_correction_failed"


#: seconds of EMG measured at least, once the filter's start-up edges are left out
_MIN_MEASURED_S = 0.5


def _r(v: float, nd: int = 3) -> float:
    return round(float(v), nd) + 0.0


def check_emg_rest(segments: Sequence[EmgSegment], *, settings: PreflightSettings,
                   processing: EmgNoiseSettings | None = None) -> GateResult:
    """Pass when every channel's processed rest RMS is at most `emg_max_rest_rms_uv` and no stream lost more than
    `emg_max_missing_fraction` of its samples. `processing`: the filter (band, mains, notch width, edge)."""
    if not segments:
        return not_applicable("emg_rest_noise", "no EMG stream in this visit")
    tol = processing or EmgNoiseSettings()
    limit = settings.emg_max_rest_rms_uv
    failures: list[str] = []
    rms: dict[str, dict[str, float]] = {}
    missing: dict[str, int] = {}
    for seg in segments:
        n = len(seg.t)
        edge = int(round(tol.edge_s * seg.rate))
        if n - 2 * edge < _MIN_MEASURED_S * seg.rate:
            failures.append(f"{seg.stream}: {n} samples ({n / seg.rate:.2f} s) are too few to judge (at least "
                            f"{_MIN_MEASURED_S:g} s beyond the filter's {tol.edge_s:g} s edges)")
            continue
        x = process(seg.uv, seg.rate, tol)[edge: n - edge]
        values = np.sqrt(np.mean(x * x, axis=0))
        rms[seg.stream] = {ch: _r(v) for ch, v in zip(seg.channels, values, strict=True)}
        for ch, v in rms[seg.stream].items():
            if not np.isfinite(v) or v > limit:
                failures.append(f"{ch} ({seg.stream}): rest noise {v:.1f} uV RMS above {limit:g} uV (electrode "
                                "contact, cable, or mains interference)")
        missing[seg.stream] = seg.missing
        if seg.missing / (n + seg.missing) > settings.emg_max_missing_fraction:
            failures.append(f"{seg.stream}: {seg.missing} of {n + seg.missing} samples lost during the capture")
    worst = max((v for per in rms.values() for v in per.values()), default=float("nan"))
    channels = sum(len(per) for per in rms.values())
    return gate("emg_rest_noise", failures, f"{channels} channel(s) at rest, at most {worst:.1f} uV RMS "
                f"(limit {limit:g} uV)", measured={"rest_rms_uv": rms, "samples_missing": missing,
                                                   "seconds": {s.stream: _r(len(s.t) / s.rate) for s in segments}},
                threshold={"max_rest_rms_uv": limit, "max_missing_fraction": settings.emg_max_missing_fraction,
                           "band_hz": list(tol.band_hz), "mains_hz": tol.mains_hz, "edge_s": tol.edge_s})


class PlateSample(BaseModel):
    """`kg` (n, c): the plate's cells in kg (physical units of a regular plate stream), `channels` their labels;
    `tare_kg`: each cell's offset from the plate-tare record in force (None: no tare applied)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    stream: str
    channels: tuple[str, ...]
    kg: np.ndarray
    tare_kg: dict[str, float] | None = None
    missing: int = Field(default=0, ge=0)


def check_plate_unloaded(sample: PlateSample | None, *, settings: PreflightSettings) -> GateResult:
    """Pass when the mean total load (minus the tare, if given) is within +-`plate_max_load_kg`."""
    if sample is None:
        return not_applicable("plate_unloaded", "no stabilometry in this visit")
    limit = settings.plate_max_load_kg
    kg = np.asarray(sample.kg, dtype=np.float64)
    if kg.ndim != 2 or kg.shape[0] < 1 or kg.shape[1] != len(sample.channels):
        return gate("plate_unloaded", [f"{sample.stream}: expected (n, {len(sample.channels)}) cell values, got "
                                       f"shape {kg.shape}"], "", measured={}, threshold={"max_load_kg": limit})
    mean = kg.mean(axis=0)
    if sample.tare_kg is not None:
        mean = mean - np.array([sample.tare_kg.get(c, 0.0) for c in sample.channels])
    total = float(mean.sum())
    measured: dict[str, Any] = {
        "total_kg": _r(total), "cells_kg": {c: _r(v) for c, v in zip(sample.channels, mean, strict=True)},
        "samples": int(kg.shape[0]), "samples_missing": sample.missing, "tare_applied": sample.tare_kg is not None}
    failures = []
    if not np.isfinite(total):
        failures.append(f"{sample.stream}: non-finite cell values")
    elif abs(total) > limit:
        failures.append(f"{sample.stream}: the plate reads {total:+.2f} kg in all (at most {limit:g} kg): clear it, "
                        "nobody on it; if it is clear, tare it again (`amuse-acq calibrate plate-tare`)")
    return gate("plate_unloaded", failures, f"unloaded: {total:+.2f} kg in all (limit {limit:g} kg)",
                measured=measured, threshold={"max_load_kg": limit})


class TimeCorrections(BaseModel):
    """One LSL stream's clock offsets (s) as its inlet measured them, and how many measurements failed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offsets_s: tuple[float, ...] = ()
    failures: int = Field(default=0, ge=0)


def corrections_from_events(events: Iterable[Event]) -> dict[str, TimeCorrections]:
    """stream -> its time corrections, from the inlet's `lsl.time_correction(_failed)` events, in order."""
    offsets: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    for ev in events:
        if ev.name == TIME_CORRECTION and isinstance(ev.payload.get("offset_s"), (int, float)):
            offsets.setdefault(ev.stream, []).append(float(ev.payload["offset_s"]))
        elif ev.name == TIME_CORRECTION_FAILED:
            failed[ev.stream] = failed.get(ev.stream, 0) + 1
    return {s: TimeCorrections(offsets_s=tuple(offsets.get(s, ())), failures=failed.get(s, 0))
            for s in sorted(set(offsets) | set(failed))}


def check_lsl_clock(series: Mapping[str, TimeCorrections], *, settings: PreflightSettings) -> GateResult:
    """Pass when every LSL stream has at least `lsl_min_corrections` offsets spreading at most
    `lsl_max_spread_ms`."""
    if not series:
        return not_applicable("lsl_clock", "no stream of this visit comes from an LSL inlet")
    limit_ms, need = settings.lsl_max_spread_ms, settings.lsl_min_corrections
    failures: list[str] = []
    measured: dict[str, Any] = {}
    for stream, tc in sorted(series.items()):
        offs = np.asarray(tc.offsets_s, dtype=np.float64)
        spread_ms = float(np.ptp(offs)) * 1e3 if len(offs) else float("nan")
        measured[stream] = {"n": len(offs), "failures": tc.failures,
                            "offset_ms": _r(float(np.median(offs)) * 1e3) if len(offs) else None,
                            "spread_ms": _r(spread_ms, 4) if len(offs) else None}
        if len(offs) < need:
            failures.append(f"{stream}: {len(offs)} clock offset(s) measured ({tc.failures} failed), {need} needed")
        elif not np.isfinite(offs).all() or spread_ms > limit_ms:
            failures.append(f"{stream}: LSL clock offset varies by {spread_ms:.2f} ms (at most {limit_ms:g} ms): "
                            "an unsteady network or sending clock")
    worst = max((m["spread_ms"] for m in measured.values() if m["spread_ms"] is not None), default=0.0)
    return gate("lsl_clock", failures, f"{len(series)} LSL stream(s), offsets steady within {worst:.2f} ms "
                f"(limit {limit_ms:g} ms)", measured=measured,
                threshold={"max_spread_ms": limit_ms, "min_corrections": need})
