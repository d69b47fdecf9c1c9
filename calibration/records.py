"""Calibration records: what was calibrated, on which device, by whom, with which values and residuals, whether it
passed, and until when it holds.

A record is written once and never edited: a newer record of the same kind and device supersedes it (the store,
`calibration.store`, is append-only). Every visit file stores the records in force during the visit under
`/calibration`; the visit's pre-flight blocks on a required record that is missing, expired or failed.

Kinds (the CLI spelling, `amuse-acq calibrate KIND`):
- `plate-tare`: empty-platform offsets per cell;
- `plate-mass`: gain error per cell and COP error from a known mass at the centre and the four corners;
- `jaw-reference`: incisal offset and intercuspal (ICP) reference, per visit (captured on the patient);
- `emg-noise`: rest noise floor per channel and the cotton-roll reference clench level per muscle, per visit (this
  subject's skin and electrode placement, this subject's clench);
- `scanner-scale`: scale error of the scanner from a reference object of known size.

Expiry is elapsed time: a record expires `valid_days` x 24 h after `performed_utc` and is expired from that
instant on (`at >= expires`). Not local midnight: the records, the store and the visit files hold UTC only, the
station's time zone is nowhere in the configuration, and a DST night would make "one day" 23 or 25 h; so a tare
taken at 08:00 holds until 08:00 the next day, and "tare each morning" is the site's routine, which the visit's
pre-flight enforces when a tare has lapsed.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CalibrationKind = Literal["plate-tare", "plate-mass", "jaw-reference", "emg-noise", "scanner-scale"]
CALIBRATION_KINDS: tuple[CalibrationKind, ...] = ("plate-tare", "plate-mass", "jaw-reference", "emg-noise",
                                                  "scanner-scale")
#: kinds measured on the patient during the visit: recorded into that visit's file only
#: (`SessionManager.record_calibration`), never into the store, never in force for another visit or patient
PER_VISIT_KINDS: frozenset[str] = frozenset({"jaw-reference", "emg-noise"})


class CalibrationRefused(ValueError):
    """The procedure could not be performed as asked (plate not empty, signal too noisy, nothing placed...): one
    line saying what was expected and what was found. Nothing is stored (`amuse-acq calibrate` exits 2); a
    measurement made and found out of tolerance is a failed record instead."""


def _utc(value: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def aware(when: _dt.datetime) -> _dt.datetime:
    """`when`, refused in one line if naive: a naive time compared with a record's UTC times is a TypeError, and
    guessing its zone would move an expiry by hours."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"expected an aware (UTC) datetime, found naive {when.isoformat()}")
    return when


def utc_text(when: _dt.datetime) -> str:
    """UTC ISO-8601 with `Z` and microseconds (as `acquisition.clock.utc_iso`), from an aware datetime."""
    return aware(when).astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CalibrationRecord(BaseModel):
    """One calibration, as written to the store and copied into each visit file it was in force for.

    `id` is unique in the store (`<kind>:<device_serial>:<performed_utc>`-like, chosen by the store); `supersedes`
    names the record of the same kind and device it replaces. `values` are what a visit uses (offsets, gains...),
    `residuals` what tells how good they are (COP error in mm, scale error in %...), both JSON-able. A failed record
    (`passed=False`, `reasons` saying why) is kept too: it is on the record that a calibration was tried and failed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
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

    @field_validator("values", "residuals", "tolerances")
    @classmethod
    def _strict_json(cls, v: dict[str, Any]) -> dict[str, Any]:
        # the record goes to a JSON file and into HDF5 attributes: plain JSON only, no NaN, no numpy arrays
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"expected plain JSON (numbers finite, lists not arrays): {exc}") from None
        return v

    @model_validator(mode="after")
    def _verdict(self) -> "CalibrationRecord":
        if self.passed == bool(self.reasons):
            raise ValueError("a failed record says why (reasons) and a passed one has no reasons; found "
                             f"passed={self.passed} with {len(self.reasons)} reason(s)")
        if self.expires <= self.performed:
            raise ValueError(f"expires_utc {self.expires_utc} is not after performed_utc {self.performed_utc}")
        return self

    def expired(self, at: _dt.datetime | None = None) -> bool:
        """Expired at `at` (default now; aware): from the instant `expires_utc` on, that instant included."""
        at = _dt.datetime.now(_dt.timezone.utc) if at is None else aware(at)
        return at >= _utc(self.expires_utc)

    def in_force(self, at: _dt.datetime | None = None) -> bool:
        """Passed and not expired at `at` (default now; aware)."""
        return self.passed and not self.expired(at)

    @property
    def key(self) -> tuple[str, str]:
        """(kind, device_serial): a newer record with the same key supersedes this one."""
        return self.kind, self.device_serial

    @property
    def performed(self) -> _dt.datetime:
        return _utc(self.performed_utc)

    @property
    def expires(self) -> _dt.datetime:
        return _utc(self.expires_utc)


def new_record(*, kind: CalibrationKind, device_serial: str, device_model: str = "", performed_by: str,
               valid_for: _dt.timedelta, values: Mapping[str, Any], residuals: Mapping[str, Any] | None = None,
               reasons: Sequence[str] = (), tolerances: Mapping[str, Any] | None = None,
               procedure_version: str = "1", simulated: bool = False,
               now: _dt.datetime | None = None) -> CalibrationRecord:
    """A record of a procedure just performed: passed exactly when `reasons` is empty, expiring `valid_for` after
    `now` (default: the current UTC time). Its `id` is a draft: `CalibrationStore.append` gives the final one and
    the `supersedes` link."""
    if valid_for <= _dt.timedelta(0):
        raise ValueError(f"a calibration must hold for a positive time, got {valid_for}")
    now = now or _dt.datetime.now(_dt.timezone.utc)
    performed = utc_text(now)
    return CalibrationRecord(
        id=f"{kind}:{device_serial}:{performed}"[:200], kind=kind, device_model=device_model,
        device_serial=device_serial, performed_utc=performed, performed_by=performed_by,
        expires_utc=utc_text(now + valid_for), values=dict(values), residuals=dict(residuals or {}),
        passed=not reasons, reasons=list(reasons), tolerances=dict(tolerances or {}),
        procedure_version=procedure_version, simulated=simulated)
