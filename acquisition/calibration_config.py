"""Settings of the calibration procedures: how long each record holds, how long it captures, its tolerances.

A section of `AcqSettings` (`[calibration.plate_mass]` in the TOML file, or `AMUSE_CALIBRATION` as JSON), one per
kind, so a site sets its limits once and every record names the limits it was judged against (`tolerances`).
It lives here, not in `calibration/`, because `AcqSettings` holds it and `acquisition` imports nothing above it.
Defaults and their reasons are in docs/calibration.md.
"""

from __future__ import annotations

import datetime as _dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Kind(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_days: float = Field(gt=0, le=3660, description="a passed record is in force this long")

    @property
    def valid_for(self) -> _dt.timedelta:
        return _dt.timedelta(days=self.valid_days)


class PlateTareSettings(_Kind):
    """Empty-platform offsets: taken at the start of the day (a load cell's zero drifts with temperature)."""

    valid_days: float = Field(default=1.0, gt=0, le=3660, description="a passed tare is in force this long")
    capture_s: float = Field(default=3.0, gt=0, le=60, description="seconds of empty plate averaged")
    settle_s: float = Field(default=0.5, ge=0, le=30, description="seconds ignored after the plate was emptied")
    empty_max_kg: float = Field(default=2.0, gt=0, description="|total load| above this: not empty, refused")
    noise_max_kg: float = Field(default=0.05, gt=0, description="a cell's standard deviation above this: refused")
    offset_max_kg: float = Field(default=1.0, gt=0,
                                 description="a cell's |offset| above this: the tare fails (the cell needs service)")


class PlateMassSettings(_Kind):
    """Known mass at the centre and at four corners: per-cell gain error, mass error, COP error."""

    valid_days: float = Field(default=30.0, gt=0, le=3660, description="a passed check is in force this long")
    mass_kg: float = Field(default=20.0, gt=0, le=200, description="the reference mass placed (its certificate's value)")
    corner_fraction: float = Field(default=0.5, gt=0, lt=1,
                                   description="corner positions at this fraction of the half-spans between cells")
    capture_s: float = Field(default=2.0, gt=0, le=60, description="seconds averaged at each position")
    settle_s: float = Field(default=1.0, ge=0, le=30, description="seconds ignored after each placement")
    noise_max_kg: float = Field(default=0.05, gt=0, description="a cell's standard deviation above this: refused")
    empty_max_kg: float = Field(default=2.0, gt=0, description="|total load| of the empty plate above this: refused")
    min_load_fraction: float = Field(default=0.5, gt=0, lt=1,
                                     description="less than this fraction of the mass read: nothing placed, refused")
    mass_tolerance_pct: float = Field(default=1.0, gt=0, description="|mass error| at any position, %")
    cop_tolerance_mm: float = Field(default=2.0, gt=0, description="|COP error| at any position, mm")
    gain_tolerance_pct: float = Field(default=2.0, gt=0, description="|gain error| of any cell, %")


class EmgNoiseSettings(_Kind):
    """Rest noise floor per channel and cotton-roll reference per muscle, electrodes on the subject (domain.md: rest
    10 s; cotton-roll clench 5 s, its central 3 s = 100 %). Limits are project defaults: domain.md gives rest
    1.4-1.9 uV and MVC 157-216 uV RMS, no limit; 5 uV is well above a good contact plus the BITalino's quantisation
    (~2 uV measured) and well below a loose electrode (tens of uV)."""

    valid_days: float = Field(default=0.5, gt=0, le=3660,
                              description="in force 12 h: it depends on this subject's electrode contact")
    rest_s: float = Field(default=10.0, gt=0, le=120, description="seconds of rest captured (protocol: 10 s)")
    clench_s: float = Field(default=5.0, gt=0, le=60, description="seconds of cotton-roll clench captured (5 s)")
    settle_s: float = Field(default=0.5, ge=0, le=30, description="seconds ignored after each instruction")
    max_rest_rms_uv: float = Field(default=5.0, gt=0, description="rest RMS above this: bad electrode contact")
    min_rest_rms_uv: float = Field(default=0.5, ge=0,
                                   description="rest RMS below this: no signal (lead unplugged, electrode off); a "
                                   "live channel reads its rest plus the ADC's quantisation, ~1.8 uV on a BITalino")
    min_clench_to_rest: float = Field(default=10.0, gt=1,
                                      description="an elevator's cotton-roll RMS must be this many times its rest RMS")
    clench_window_s: float = Field(default=3.0, gt=0, description="the central part of the clench measured (protocol)")
    envelope_s: float = Field(default=0.25, gt=0, description="moving-RMS window that finds the clench (100-250 ms)")
    envelope_threshold: float = Field(default=0.5, gt=0, lt=1,
                                      description="fraction of the envelope's maximum that counts as clenching")
    rest_min_s: float = Field(default=8.0, gt=0, description="shortest usable rest capture")
    edge_s: float = Field(default=0.25, ge=0, description="left out at both ends of the rest (filter start-up)")
    max_missing_fraction: float = Field(default=0.01, ge=0, lt=1,
                                        description="samples the device lost, as a fraction of a capture")
    band_hz: tuple[float, float] = Field(default=(20.0, 450.0), description="band-pass (Butterworth 4, zero phase)")
    mains_hz: float = Field(default=50.0, gt=0, description="notched with its harmonics in the band")
    notch_width_hz: float = Field(default=1.0, gt=0,
                                  description="-3 dB width of every notch, the same at each harmonic (a fixed Q of 30 "
                                  "widens them with frequency and takes a third of the band's power)")

    @model_validator(mode="after")
    def _band(self) -> "EmgNoiseSettings":
        if not 0 < self.band_hz[0] < self.band_hz[1]:
            raise ValueError(f"band_hz must be (low, high) with 0 < low < high, got {self.band_hz}")
        if self.min_rest_rms_uv >= self.max_rest_rms_uv:
            raise ValueError(f"min_rest_rms_uv {self.min_rest_rms_uv:g} must be below max_rest_rms_uv "
                             f"{self.max_rest_rms_uv:g}")
        return self


class JawReferenceSettings(_Kind):
    """Incisal offset (pointer on the incisal point) and ICP (teeth together), captured on the patient at the start
    of the jaw battery. Limits are project defaults (domain.md gives none): the Aurora's static accuracy is about
    0.5 mm RMS, so a tip held on one point spreads less than 1 mm and an ICP hold less than 0.5 mm; an offset
    outside 5-150 mm is not a sensor on the incisors or a chin clip (wrong tool, wrong tip)."""

    valid_days: float = Field(default=0.5, gt=0, le=3660,
                              description="per visit (stored in the visit file); 12 h covers any visit")
    capture_s: float = Field(default=2.0, gt=0, le=60, description="seconds of each hold captured")
    settle_s: float = Field(default=0.5, ge=0, le=30, description="seconds ignored after each instruction")
    min_frames: int = Field(default=20, ge=3, description="valid frames each capture needs (40 Hz: 0.5 s)")
    max_offset_spread_mm: float = Field(default=1.0, gt=0, description="pointer tip held on the incisal point, RMS")
    max_icp_spread_mm: float = Field(default=0.5, gt=0, description="ICP held still, RMS")
    offset_range_mm: tuple[float, float] = Field(default=(5.0, 150.0), description="plausible |incisal offset|")
    max_tool_error_mm: float = Field(default=1.0, gt=0, description="the tracker's own RMS error of a tool")


class ScannerScaleSettings(_Kind):
    """Scale error from a capture of a reference object of known size. Limits are project defaults (domain.md quotes
    scanner accuracies of ~1-2 mm for structured light and 0.86 mm RMS for TrueDepth, no scale limit): 1 % is
    0.3 mm on a microstomic opening of 33 mm."""

    valid_days: float = Field(default=30.0, gt=0, le=3660,
                              description="in force 30 days (and again after the scanner is moved or serviced)")
    reference: Literal["sphere", "block"] = Field(default="sphere", description="the site's reference object")
    diameter_mm: float = Field(default=100.0, gt=0, le=1000, description="the sphere's certified diameter")
    block_mm: tuple[float, float, float] = Field(default=(100.0, 50.0, 25.0),
                                                 description="the gauge block's certified edge lengths")
    capture_timeout_s: float = Field(default=300.0, gt=0, description="wait this long for the capture to arrive")
    max_scale_error_pct: float = Field(default=1.0, gt=0, description="|scale error| above this: failed")
    max_fit_rms_mm: float = Field(default=0.5, gt=0, description="the capture must be the reference shape")
    min_vertices: int = Field(default=500, ge=10, description="fewer vertices in the capture: refused")


class CalibrationSettings(BaseModel):
    """One section per procedure (`amuse-acq calibrate KIND`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plate_tare: PlateTareSettings = Field(default_factory=PlateTareSettings)
    plate_mass: PlateMassSettings = Field(default_factory=PlateMassSettings)
    emg_noise: EmgNoiseSettings = Field(default_factory=EmgNoiseSettings)
    jaw_reference: JawReferenceSettings = Field(default_factory=JawReferenceSettings)
    scanner_scale: ScannerScaleSettings = Field(default_factory=ScannerScaleSettings)
