"""Settings of the visit's pre-flight gates (`sessions.preflight`): the thresholds each gate judges against.

A section of `AcqSettings` (`[preflight]` in the TOML file, or `AMUSE_PREFLIGHT` as JSON), so a site sets its
limits once and every visit file stores the thresholds its gates were judged against (`/qc/preflight`).
It lives here, not in `sessions/`, because `AcqSettings` holds it and `acquisition` imports nothing above it; for
the same reason the calibration kinds and protocol instruments are spelled here, and a test checks they stay the
ones `calibration.records` and `sessions.protocol` define. Defaults and their reasons: docs/preflight.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: the kinds of `calibration.records.CALIBRATION_KINDS`, and its `PER_VISIT_KINDS` (measured on the patient during
#: the visit, never in the store: they cannot be required before the first step); tests keep them equal
KNOWN_CALIBRATION_KINDS = ("plate-tare", "plate-mass", "jaw-reference", "emg-noise", "scanner-scale")
PER_VISIT_CALIBRATION_KINDS = ("jaw-reference", "emg-noise")
#: the instruments of `sessions.protocol.Instrument` that use a device
KNOWN_INSTRUMENTS = ("scanner", "emg_jaw", "stabilometry")

#: which calibration kinds each protocol instrument needs in force before the first step. The EMG and jaw need
#: none from the store: `emg-noise` and `jaw-reference` are taken on the patient during the visit (per-visit kinds);
#: before it, the EMG's own pre-flight gate is its rest noise floor.
DEFAULT_REQUIRED_CALIBRATIONS: dict[str, tuple[str, ...]] = {
    "stabilometry": ("plate-tare", "plate-mass"),
    "emg_jaw": (),
    "scanner": ("scanner-scale",),
}


class PreflightSettings(BaseModel):
    """Thresholds of the pre-flight gates, one group per gate (docs/preflight.md says why each default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- calibrations ---------------------------------------------------------------------------------------
    required_calibrations: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_REQUIRED_CALIBRATIONS),
        description="protocol instrument -> calibration kinds that must be in force (passed, unexpired); an "
        "instrument not named keeps its default")
    # -- EMG noise floor at rest ----------------------------------------------------------------------------
    emg_rest_s: float = Field(default=2.0, gt=0.5, le=30, description="seconds of live EMG captured")
    emg_max_rest_rms_uv: float = Field(
        default=5.0, gt=0, description="a channel's processed rest RMS above this: bad contact or a noisy amplifier "
        "(the emg-noise calibration's limit)")
    emg_max_missing_fraction: float = Field(default=0.01, ge=0, lt=1,
                                            description="samples lost during the capture, as a fraction")
    # -- plate unloaded -------------------------------------------------------------------------------------
    plate_capture_s: float = Field(default=1.0, gt=0, le=30, description="seconds of plate averaged")
    plate_max_load_kg: float = Field(default=2.0, gt=0,
                                     description="|mean total load| above this: someone or something on the plate")
    # -- LSL clock offsets ----------------------------------------------------------------------------------
    lsl_min_corrections: int = Field(default=3, ge=2, le=100,
                                     description="time_correction values needed to judge an LSL stream's clock")
    lsl_max_spread_ms: float = Field(default=2.0, gt=0,
                                     description="max - min of a stream's time_correction series above this: unstable")
    lsl_max_wait_s: float = Field(default=30.0, gt=0, le=600,
                                  description="longest wait for those values (the inlet measures every few seconds)")
    # -- disk space -----------------------------------------------------------------------------------------
    disk_factor: float = Field(default=2.0, ge=1, description="free space needed, in estimated visit sizes")
    visit_floor_s: float = Field(
        default=5400.0, ge=0, description="the visit is estimated at least this long: the streams record the whole "
        "visit, manual steps (questionnaires, scores) included, whose nominal duration is 0")
    scan_estimate_mb: float = Field(default=25.0, ge=0, description="estimated size of one scan or photo set")

    @field_validator("required_calibrations", mode="before")
    @classmethod
    def _over_defaults(cls, v: object) -> object:
        """A site's table changes the instruments it names; the others keep their default (dropping one's
        requirements takes an explicit `instrument = []`, never a forgotten line)."""
        return {**DEFAULT_REQUIRED_CALIBRATIONS, **v} if isinstance(v, dict) else v

    @field_validator("required_calibrations")
    @classmethod
    def _known(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for instrument, kinds in v.items():
            if instrument not in KNOWN_INSTRUMENTS:
                raise ValueError(f"required_calibrations: unknown instrument {instrument!r} (known: "
                                 f"{', '.join(KNOWN_INSTRUMENTS)})")
            for kind in kinds:
                if kind not in KNOWN_CALIBRATION_KINDS:
                    raise ValueError(f"required_calibrations[{instrument}]: unknown calibration kind {kind!r} "
                                     f"(known: {', '.join(KNOWN_CALIBRATION_KINDS)})")
                if kind in PER_VISIT_CALIBRATION_KINDS:
                    raise ValueError(f"required_calibrations[{instrument}]: {kind} is taken on the patient during "
                                     "the visit; it cannot be required before the first step")
        return v
