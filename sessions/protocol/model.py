"""The visit protocol as data: which steps, in which order, at which visit code, what the technician is told, and
how each step's quality is judged when it ends (trial registry NCT07326033; the shipped one is `a_muse.toml`).

Why the QC thresholds live here and not in the settings: they are part of what a visit was run by. The protocol
file's hash goes into every visit file, so a file says which criteria its steps' verdicts were judged against,
and changing a criterion is a new protocol version, not a silent edit of a site's configuration.

Every model forbids unknown keys: a misspelt option must not be silently ignored, and nothing outside the
protocol (least of all a randomisation arm: the trial is quadruple-masked) can ride along in a protocol file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sessions.subject import VisitCode

Instrument = Literal["manual", "scanner", "emg_jaw", "stabilometry"]
#: the instruments that use a device (a `manual` step records nothing of its own)
DEVICE_INSTRUMENTS: tuple[Instrument, ...] = ("scanner", "emg_jaw", "stabilometry")
ALL_VISITS = (VisitCode.D0, VisitCode.W4, VisitCode.W12, VisitCode.W24)
#: step names the protocol may not use: `preflight` is the runner's own phase before the first step (the device
#: checks are recorded under it), `idle` is what simulated patients are told between steps
RESERVED_STEP_NAMES = frozenset({"preflight", "idle"})

_NAME = r"^[a-z][a-z0-9_]{0,47}$"
_CONFIG = ConfigDict(frozen=True, extra="forbid")


class StreamQc(BaseModel):
    """How one recorded stream (by name) is judged. `adc_limits`: the raw codes at which the converter saturates,
    applied only when the stream's `raw_units` are the ones given (the same stream name from another driver, in
    other units, is not judged against them). `signal_channels`: the channels whose flatness means no signal
    (default all; `[]`: none, e.g. a stream derived from another one judged there)."""

    model_config = _CONFIG

    adc_limits: tuple[float, float] | None = None
    raw_units: str | None = None
    signal_channels: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _limits(self) -> "StreamQc":
        if self.adc_limits is not None and not self.adc_limits[0] < self.adc_limits[1]:
            raise ValueError(f"adc_limits {list(self.adc_limits)} must be [low, high] with low < high")
        return self


class QcDefaults(BaseModel):
    """The thresholds every step is judged against unless its own `[steps.qc]` says otherwise."""

    model_config = _CONFIG

    min_received_share: float = Field(default=0.95, gt=0, le=1,
                                      description="samples received / (nominal rate x the step's recorded time)")
    max_saturation_share: float = Field(default=0.01, ge=0, lt=1,
                                        description="share of a channel's samples at the ADC limits")
    flat_ptp: float = Field(default=0.0, ge=0, description="a channel whose peak-to-peak (raw) is at most this is flat")
    min_loaded_share: float = Field(default=0.98, gt=0, le=1, description="share of the step with the plate loaded")
    settle_s: float = Field(default=1.0, ge=0, le=30,
                            description="longest wait for a stream's last samples of the step to be journalled")
    scan_settle_s: float = Field(default=5.0, ge=0, le=120,
                                 description="longest wait, before a scan step ends, for its expected captures")
    streams: dict[str, StreamQc] = Field(default_factory=dict)


class StepQc(BaseModel):
    """A step's own QC options: thresholds replacing the defaults, and its step-specific check."""

    model_config = _CONFIG

    min_received_share: float | None = Field(default=None, gt=0, le=1)
    max_saturation_share: float | None = Field(default=None, ge=0, lt=1)
    expected_scans: int | None = Field(default=None, ge=0, le=50,
                                       description="captures the step must deliver (scanner; default: repetitions)")
    min_opening_mm: float | None = Field(default=None, gt=0, le=80,
                                         description="jaw: the incisal point's vertical range must reach this")
    opening_channel: str = Field(default="y_vert", description="the jaw stream's vertical channel")
    min_load_kg: float | None = Field(default=None, gt=0, le=300,
                                      description="stabilometry: total load on the plate, the whole step")
    min_loaded_share: float | None = Field(default=None, gt=0, le=1)


class ProtocolStep(BaseModel):
    """One step: `repetitions` tasks of `duration_s` each, inside a step of nominal length `total_s`."""

    model_config = _CONFIG

    name: str = Field(pattern=_NAME)
    instrument: Instrument
    title: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=2000, description="what the technician tells and does")
    repetitions: int = Field(default=1, ge=1, le=10, description="tasks inside the step (a retake is an attempt)")
    duration_s: float = Field(default=0.0, ge=0, le=3600, description="nominal duration of one repetition")
    nominal_s: float | None = Field(default=None, ge=0, le=7200, description=(
        "nominal duration of the whole step, rests between repetitions included (default repetitions x "
        "duration_s)"))
    visits: tuple[VisitCode, ...] = Field(default=ALL_VISITS, min_length=1)
    qc: StepQc = Field(default_factory=StepQc)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_STEP_NAMES:
            raise ValueError(f"step name {v!r} is reserved ({', '.join(sorted(RESERVED_STEP_NAMES))})")
        return v

    @field_validator("visits")
    @classmethod
    def _unique_visits(cls, v: tuple[VisitCode, ...]) -> tuple[VisitCode, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"visits {[c.value for c in v]} lists a visit twice")
        return v

    @model_validator(mode="after")
    def _qc_fits_instrument(self) -> "ProtocolStep":
        q = self.qc
        wrong = [(key, inst) for key, inst, value in (
            ("expected_scans", "scanner", q.expected_scans),
            ("min_opening_mm", "emg_jaw", q.min_opening_mm),
            ("min_load_kg", "stabilometry", q.min_load_kg),
        ) if value is not None and self.instrument != inst]
        if wrong:
            key, inst = wrong[0]
            raise ValueError(f"step {self.name!r}: qc.{key} applies to {inst} steps, this one is {self.instrument}")
        return self

    @property
    def total_s(self) -> float:
        """The step's nominal length: what a countdown shows and an automatic operator waits."""
        return self.nominal_s if self.nominal_s is not None else self.repetitions * self.duration_s

    @property
    def expected_scans(self) -> int:
        """Captures a scanner step must deliver (0 for any other step)."""
        if self.instrument != "scanner":
            return 0
        return self.qc.expected_scans if self.qc.expected_scans is not None else self.repetitions


class Protocol(BaseModel):
    """A versioned protocol. Load it from its file with `sessions.protocol.load_protocol` (which keeps the file's
    hash and text for the visit file); `Protocol.load(path)` gives the model alone."""

    model_config = _CONFIG

    protocol_version: str = Field(pattern=r"^[0-9]{1,4}(\.[0-9]{1,4}){1,2}$", description="e.g. '1.0', '1.2.1'")
    name: str = Field(min_length=1, max_length=80)
    steps: tuple[ProtocolStep, ...] = Field(min_length=1)
    qc: QcDefaults = Field(default_factory=QcDefaults)

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, v: tuple[ProtocolStep, ...]) -> tuple[ProtocolStep, ...]:
        seen: set[str] = set()
        for s in v:
            if s.name in seen:
                raise ValueError(f"step {s.name!r} is listed twice (step names are unique)")
            seen.add(s.name)
        return v

    def for_visit(self, visit: VisitCode) -> list[ProtocolStep]:
        """The steps of `visit`, in protocol order."""
        return [s for s in self.steps if visit in s.visits]

    def step(self, name: str) -> ProtocolStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"protocol {self.name} {self.protocol_version} has no step {name!r}")

    def stream_qc(self, stream: str) -> StreamQc:
        return self.qc.streams.get(stream, StreamQc())

    @classmethod
    def load(cls, path: Path | str) -> "Protocol":
        """The model alone (`sessions.protocol.load_protocol` keeps the file's hash and text too)."""
        from sessions.protocol.files import load_protocol

        return load_protocol(path).protocol
