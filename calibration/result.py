"""What every calibration computation returns (plate-tare, plate-mass, emg-noise, jaw-reference, scanner-scale),
and how it becomes a record.

The computations are pure: they take samples or a capture and return a `ProcedureResult` (values, residuals,
reasons for a failure, the limits judged against, the version of the computation). Who ran it, on which device and
until when it holds are the caller's (`calibration.plate_procedure`, `sessions/calibrate_kinds/`), added by
`to_record` through `calibration.records.new_record`, so every record is built the same way. A capture that cannot
be judged at all (no clench, no pointer seen) raises `CalibrationRefused` in the computation instead: nothing to
store.

`procedure_version` has one form, `<kind>-<n>` (`plate-tare-1`): each computation's `PROCEDURE_VERSION`, raised
when what it computes or how it judges changes, so a record says which computation made it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calibration.records import CalibrationKind, CalibrationRecord, new_record


class ProcedureResult(BaseModel):
    """`passed` is `not reasons`: a reason is one line saying which value broke which limit
    (`TA_L: rest noise 24.8 uV RMS above the 5 uV limit (bad electrode contact?)`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    values: dict[str, Any]
    residuals: dict[str, Any] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    tolerances: dict[str, Any] = Field(default_factory=dict)
    procedure_version: str = Field(pattern=r"^[a-z][a-z-]*-[0-9]+$", description="`<kind>-<n>`")

    @property
    def passed(self) -> bool:
        return not self.reasons

    def to_record(self, *, kind: CalibrationKind, device_serial: str, device_model: str, performed_by: str,
                  valid_for: _dt.timedelta, simulated: bool, values: dict[str, Any] | None = None,
                  residuals: dict[str, Any] | None = None, now: _dt.datetime | None = None) -> CalibrationRecord:
        """The record of this result (`values` and `residuals` add to the computed ones: the boards' serials, the
        samples the device lost). ValueError if the result is not of `kind` (its version names another kind)."""
        if self.procedure_version.rsplit("-", 1)[0] != kind:
            raise ValueError(f"procedure_version {self.procedure_version!r} is not one of {kind}'s ({kind}-<n>)")
        return new_record(kind=kind, device_serial=device_serial, device_model=device_model,
                          performed_by=performed_by, valid_for=valid_for, values={**self.values, **(values or {})},
                          residuals={**self.residuals, **(residuals or {})}, reasons=self.reasons,
                          tolerances=self.tolerances, procedure_version=self.procedure_version, simulated=simulated,
                          now=now)
