"""What the `emg-noise`, `jaw-reference` and `scanner-scale` computations return, and how it becomes a record.

The computations are pure: they take samples or a capture and return a `ProcedureResult` (values, residuals,
reasons for a failure, the limits judged against). Who ran it, on which device and until when it holds are the
caller's (`sessions/calibrate_kinds/`), added by `to_record` through `calibration.records.new_record`, so every
record is built the same way. A capture that cannot be judged at all (no clench, no pointer seen) raises
`CalibrationRefused` in the computation instead: nothing to store.
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
    procedure_version: str = "1"

    @property
    def passed(self) -> bool:
        return not self.reasons

    def to_record(self, *, kind: CalibrationKind, device_serial: str, device_model: str, performed_by: str,
                  valid_for: _dt.timedelta, simulated: bool, values: dict[str, Any] | None = None,
                  now: _dt.datetime | None = None) -> CalibrationRecord:
        """The record of this result (`values` adds to the computed values, e.g. the boards' serials)."""
        return new_record(kind=kind, device_serial=device_serial, device_model=device_model,
                          performed_by=performed_by, valid_for=valid_for, values={**self.values, **(values or {})},
                          residuals=self.residuals, reasons=self.reasons, tolerances=self.tolerances,
                          procedure_version=self.procedure_version, simulated=simulated, now=now)
