"""`run_preflight(inputs) -> PreflightReport`: every gate, from inputs gathered beforehand (pure: no device here).

`PreflightInputs` is what the gates need: the devices opened (and those that failed to open), the visit's planned
steps (which instruments, how long, how many scans), the calibration store's records, a few seconds of EMG and of
the plate, the LSL inlets' clock offsets, the free space. `sessions.preflight.live.collect_inputs` fills it from
the opened sources; tests build it by hand.

Which signal gates apply follows the planned steps: the EMG gate when a step uses `emg_jaw`, the plate gate when
one uses `stabilometry`, the LSL gate when a stream comes from an LSL inlet. An applicable gate without its
samples fails (saying why: the capture's error, or no such stream opened), it is never skipped.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from acquisition.calibration_config import EmgNoiseSettings
from acquisition.clock import utc_iso
from acquisition.config import AcqSettings
from acquisition.preflight_config import PreflightSettings
from calibration.emg_noise import EmgSegment
from calibration.records import CalibrationRecord
from sessions.preflight.calibrations import calibration_serials, check_calibrations, required_calibrations
from sessions.preflight.devices import ExpectedDevice, FoundDevice, check_devices, check_production
from sessions.preflight.disk import check_disk, estimate_visit_bytes, visit_duration_s
from sessions.preflight.result import GATES, GateName, GateResult, PreflightReport
from sessions.preflight.signals import (PlateSample, TimeCorrections, check_emg_rest, check_lsl_clock,
                                        check_plate_unloaded)

#: the transport prefix of a stream recorded from an LSL inlet (acquisition/lsl/inlet.py)
LSL_TRANSPORT = "lsl:"


class PlannedStep(BaseModel):
    """A step of the visit's protocol as the gates see it: its instruments, nominal length, scans expected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    instruments: tuple[str, ...]
    total_s: float = Field(default=0.0, ge=0)
    scans: int = Field(default=0, ge=0)


def planned_steps(steps: Iterable[Any]) -> list[PlannedStep]:
    """From protocol steps: `instrument` (or `instruments`), `repetitions`, `duration_s`, and where the protocol
    model has them `total_s` (the step's nominal length, rests included) and `expected_scans`."""
    out = []
    for s in steps:
        instruments = tuple(getattr(s, "instruments", None) or (s.instrument,))
        total = getattr(s, "total_s", None)
        scans = getattr(s, "expected_scans", None)
        out.append(PlannedStep(
            name=s.name, instruments=instruments,
            total_s=float(total) if total is not None else s.repetitions * s.duration_s,
            scans=int(scans) if scans is not None else (s.repetitions if "scanner" in instruments else 0)))
    return out


class PreflightInputs(BaseModel):
    """Everything the gates judge (module docstring). `capture_errors`: a gate whose inputs could not be taken
    (a device that stopped delivering, an unreadable store), with the one-line error: that gate fails."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    at: _dt.datetime
    production: bool = False
    visit_simulated: bool = False
    replay_of: str | None = None
    expected: tuple[ExpectedDevice, ...] = ()
    found: tuple[FoundDevice, ...] = ()
    open_errors: dict[str, str] = Field(default_factory=dict)
    steps: tuple[PlannedStep, ...] = ()
    calibration_records: tuple[CalibrationRecord, ...] = ()
    emg: tuple[EmgSegment, ...] = ()
    plate: PlateSample | None = None
    lsl: dict[str, TimeCorrections] = Field(default_factory=dict)
    data_dir: Path = Path(".")
    free_bytes: int = Field(default=0, ge=0)
    capture_errors: dict[str, str] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _aware(cls, v: _dt.datetime) -> _dt.datetime:
        if v.tzinfo is None:
            raise ValueError(f"the visit time must be an aware (UTC) datetime, found naive {v.isoformat()}")
        return v

    @property
    def instruments(self) -> list[str]:
        return list(dict.fromkeys(i for s in self.steps for i in s.instruments))

    @property
    def lsl_streams(self) -> list[str]:
        return [d.stream for d in self.found if d.stream and d.identity.transport.startswith(LSL_TRANSPORT)]


def _failed(name: GateName, error: str) -> GateResult:
    return GateResult(name=name, status="fail", detail=error)


def _disk(inputs: PreflightInputs, pf: PreflightSettings) -> GateResult:
    specs = [d.spec for d in inputs.found if d.spec is not None]
    duration = visit_duration_s((s.total_s for s in inputs.steps), floor_s=pf.visit_floor_s)
    scans = sum(s.scans for s in inputs.steps)
    estimate = estimate_visit_bytes(specs, duration, scans=scans, scan_bytes=pf.scan_estimate_mb * 1024 * 1024)
    return check_disk(inputs.free_bytes, estimate, path=inputs.data_dir, settings=pf, duration_s=duration)


def _calibrations(inputs: PreflightInputs, pf: PreflightSettings) -> GateResult:
    specs = [d.spec for d in inputs.found if d.spec is not None]
    scanner = next((d.identity for d in inputs.found if d.spec is None), None)
    needed, problems = required_calibrations(inputs.instruments, pf.required_calibrations,
                                             calibration_serials(specs, scanner))
    return check_calibrations(needed, inputs.calibration_records, at=inputs.at, production=inputs.production,
                              problems=problems)


def _emg(inputs: PreflightInputs, pf: PreflightSettings, processing: EmgNoiseSettings) -> GateResult:
    if "emg_jaw" not in inputs.instruments:
        return check_emg_rest((), settings=pf)
    if not inputs.emg:
        return _failed("emg_rest_noise", "no EMG samples captured: no EMG stream was opened")
    return check_emg_rest(inputs.emg, settings=pf, processing=processing)


def _plate(inputs: PreflightInputs, pf: PreflightSettings) -> GateResult:
    if "stabilometry" not in inputs.instruments:
        return check_plate_unloaded(None, settings=pf)
    if inputs.plate is None:
        return _failed("plate_unloaded", "no plate samples captured: no regular plate stream (kg) was opened")
    return check_plate_unloaded(inputs.plate, settings=pf)


def _lsl(inputs: PreflightInputs, pf: PreflightSettings) -> GateResult:
    series: Mapping[str, TimeCorrections] = {s: inputs.lsl.get(s, TimeCorrections()) for s in inputs.lsl_streams}
    return check_lsl_clock(series, settings=pf)


def run_preflight(inputs: PreflightInputs, *, settings: AcqSettings | None = None,
                  started_utc: str | None = None) -> PreflightReport:
    """Every gate of `GATES` on `inputs`, judged against `settings.preflight` (and the EMG filter of
    `settings.calibration.emg_noise`); defaults when `settings` is None."""
    started = started_utc or utc_iso()
    pf = settings.preflight if settings is not None else PreflightSettings()
    processing = settings.calibration.emg_noise if settings is not None else EmgNoiseSettings()
    run = {
        "production_sources": lambda: check_production(list(inputs.found), production=inputs.production,
                                                       visit_simulated=inputs.visit_simulated,
                                                       replay_of=inputs.replay_of),
        "devices": lambda: check_devices(list(inputs.expected), list(inputs.found), inputs.open_errors),
        "calibrations": lambda: _calibrations(inputs, pf),
        "disk_space": lambda: _disk(inputs, pf),
        "emg_rest_noise": lambda: _emg(inputs, pf, processing),
        "plate_unloaded": lambda: _plate(inputs, pf),
        "lsl_clock": lambda: _lsl(inputs, pf),
    }
    gates = [_failed(name, inputs.capture_errors[name]) if name in inputs.capture_errors else run[name]()
             for name in GATES]
    return PreflightReport(started_utc=started, finished_utc=utc_iso(), production=inputs.production, gates=gates)
