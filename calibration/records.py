"""Calibration records: what was calibrated, on which device, with which values, valid until when.

Every visit file stores the records in force during the visit under `/calibration`. The procedures themselves
(tare, known mass, incisal reference, EMG noise floor / MVC, scanner scale) come with the calibration issue; the
record model is the boundary they will write through.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CalibrationKind = Literal["tare", "known_mass", "incisal_reference", "emg_noise_floor", "emg_mvc", "scanner_scale"]


class CalibrationRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=80)
    kind: CalibrationKind
    device_serial: str
    values: dict[str, Any]
    performed_utc: str
    expires_utc: str
    simulated: bool = False

    def expired(self, at: _dt.datetime | None = None) -> bool:
        at = at or _dt.datetime.now(_dt.timezone.utc)
        return at >= _dt.datetime.fromisoformat(self.expires_utc.replace("Z", "+00:00"))
