"""Calibration records: what was calibrated, on which device, by whom, with which values and residuals, whether it
passed, and until when it holds.

A record is written once and never edited: a newer record of the same kind and device supersedes it (the store,
`calibration.store`, is append-only). Every visit file stores the records in force during the visit under
`/calibration`; the visit's pre-flight blocks on a required record that is missing, expired or failed.

Kinds (the CLI spelling, `amuse-acq calibrate KIND`):
- `plate-tare`: empty-platform offsets per cell;
- `plate-mass`: gain error per cell and COP error from a known mass at the centre and the four corners;
- `jaw-reference`: incisal offset and intercuspal (ICP) reference, per visit (captured on the patient);
- `emg-noise`: rest noise floor per channel and the cotton-roll reference clench level per muscle;
- `scanner-scale`: scale error of the scanner from a reference object of known size.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CalibrationKind = Literal["plate-tare", "plate-mass", "jaw-reference", "emg-noise", "scanner-scale"]
CALIBRATION_KINDS: tuple[CalibrationKind, ...] = ("plate-tare", "plate-mass", "jaw-reference", "emg-noise",
                                                  "scanner-scale")
#: kinds measured on the patient during the visit (stored in the visit file, not in the store)
PER_VISIT_KINDS: frozenset[str] = frozenset({"jaw-reference"})


def _utc(value: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class CalibrationRecord(BaseModel):
    """One calibration, as written to the store and copied into each visit file it was in force for.

    `id` is unique in the store (`<kind>:<device_serial>:<performed_utc>`-like, chosen by the store); `supersedes`
    names the record of the same kind and device it replaces. `values` are what a visit uses (offsets, gains...),
    `residuals` what tells how good they are (COP error in mm, scale error in %...), both JSON-able. A failed record
    (`passed=False`, `reasons` saying why) is kept too: it is on the record that a calibration was tried and failed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=120)
    kind: CalibrationKind
    device_model: str = Field(default="", max_length=120)
    device_serial: str = Field(min_length=1, max_length=120)
    performed_utc: str
    performed_by: str = Field(min_length=1, max_length=32, description="operator login")
    expires_utc: str
    values: dict[str, Any]
    residuals: dict[str, Any] = Field(default_factory=dict)
    passed: bool
    reasons: list[str] = Field(default_factory=list, description="why it failed (empty when passed)")
    tolerances: dict[str, Any] = Field(default_factory=dict, description="the limits it was judged against")
    procedure_version: str = Field(default="1", max_length=32)
    supersedes: str | None = None
    simulated: bool = False

    @field_validator("performed_utc", "expires_utc")
    @classmethod
    def _iso_utc(cls, v: str) -> str:
        if not v.endswith("Z"):
            raise ValueError(f"expected a UTC ISO-8601 time ending in Z, found {v!r}")
        _utc(v)
        return v

    def expired(self, at: _dt.datetime | None = None) -> bool:
        at = at or _dt.datetime.now(_dt.timezone.utc)
        return at >= _utc(self.expires_utc)

    def in_force(self, at: _dt.datetime | None = None) -> bool:
        """Passed and not expired at `at` (default now)."""
        return self.passed and not self.expired(at)
