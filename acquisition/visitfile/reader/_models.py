"""Typed views of what a visit file stores beside the samples: identity, gaps, scan attributes, calibration,
outcomes. Field names are the file's own attribute and column names (docs/file-format.md)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ReplayOf(BaseModel):
    """Root attribute `replay_of` (JSON) of a replayed visit: the sealed file it replays, by the SHA-256 of its
    bytes (the line of `MANIFEST.sha256`) and, only when the replay keeps the original's subject and visit, by
    name (a name is a pseudonym and visit code: under another subject it would link the two). A recording of an
    LSL replay has the SHA-256 alone (the player never publishes the name). A replay is never trial data: test
    `replay_of is not None`, never the name; `label` is what to print."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = Field(default=None, min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def label(self) -> str:
        """`<file> sha256 <hex>`, or `sha256 <hex>` when the name is not stored."""
        return f"{self.file + ' ' if self.file else ''}sha256 {self.sha256}"


class ProtocolStamp(BaseModel):
    """Root attribute `protocol` (JSON) of a visit run by a protocol (`sessions.protocol`): its name and version,
    the SHA-256 of its TOML file's bytes, and that file's name (`default`: the one shipped with the software). The
    file's text is the root attribute `protocol_toml`, so the hash can be checked from the visit file alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str = Field(min_length=1)


class VisitIdentity(BaseModel):
    """The root attributes (the digest tree's own two are left out). Unknown attributes are kept (`model_extra`):
    a newer writer may add some."""

    model_config = ConfigDict(frozen=True, extra="allow")

    schema_version: int
    software_version: str
    site: str
    subject: str
    visit: str
    operator: str
    started_utc: str
    closed_utc: str
    state: str
    simulated: bool
    boot_id: str
    config: dict[str, Any] = Field(default_factory=dict, description="the settings in force (stored as JSON)")
    started_t_lsl: float | None = None
    recovered_utc: str | None = Field(None, description="only in a recovered file")
    n_events: int | None = None
    replay_of: ReplayOf | None = Field(None, description="only in a replay: the file it replays (stored as JSON)")
    protocol: ProtocolStamp | None = Field(None, description="the protocol the visit was run by (stored as JSON)")

    @property
    def key(self) -> str:
        return f"{self.subject}_{self.visit}"


class Gap(BaseModel):
    """One hole in a stream's `device_seq`: `missing` samples after `after_seq`, between `t_before` and `t_after`."""

    model_config = ConfigDict(frozen=True)

    after_seq: int
    missing: int
    t_before: float
    t_after: float


class Samples(NamedTuple):
    """Rows of a stream: their times, sequence numbers and values (raw or physical)."""

    t_lsl: np.ndarray
    device_seq: np.ndarray
    data: np.ndarray
    start: int  # index of the first row in the stream


class ScanSourceFile(BaseModel):
    """A file the scanner's ingestion read, by its alias (never the vendor's file name)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str
    role: str = ""
    sha256: str = ""
    bytes: int | None = None
    mtime_utc: str | None = None


class ScanAttrs(BaseModel):
    """Attributes of `/scans/<id>`; JSON-valued ones decoded."""

    model_config = ConfigDict(frozen=True, extra="allow")

    condition: str = "unassigned"
    condition_source: str = "none"
    repetition: int = 0
    capture_utc: str = ""
    capture_time_source: str = ""
    t_lsl: float | None = None
    step: str = ""
    mesh_format: str = ""
    texture_format: str = ""
    units: str = "mm"
    source_files: list[ScanSourceFile] = Field(default_factory=list)
    landmarks: dict[str, list[float]] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    photo_formats: dict[str, str] = Field(default_factory=dict)


class CalibrationRecord(BaseModel):
    """One attribute of `/calibration` (the record in force during the visit)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str
    kind: str
    device_serial: str = ""
    values: dict[str, Any] = Field(default_factory=dict)
    performed_utc: str | None = None
    expires_utc: str | None = None
    simulated: bool | None = None


class AuditRow(BaseModel):
    """One element of `/audit/entries` (its JSON decoded): an entry of the visit's audit chain. Read as stored,
    not verified: `amuse-acq audit verify FILE` checks the chain (docs/audit.md)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    seq: int
    utc: str
    t_lsl: float | None
    operator: str
    uid: int
    action: str
    payload: dict[str, Any]
    chain: str
    ref: dict[str, Any] | None = None
    prev: str
    hash: str


class OutcomeRow(BaseModel):
    """One row of `/outcomes/table`."""

    model_config = ConfigDict(frozen=True)

    step: str
    metric: str
    value: float
    unit: str
    method: str
