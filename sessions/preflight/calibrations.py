"""Gate `calibrations`: every calibration the visit's instruments need is in force for the devices opened.

Which kinds each protocol instrument needs is the table `PreflightSettings.required_calibrations` (documented in
docs/preflight.md); which device each kind is for is read from the opened devices, the way each procedure names
the device in its record (`sessions/calibrate_kinds/`):
- `plate-tare`, `plate-mass`: the serial of the regular plate stream (kg per cell);
- `scanner-scale`: the scanner's serial (its USB identity).
The per-visit kinds (`emg-noise`, `jaw-reference`) are taken on the patient during the visit and never held by the
store: the settings refuse to require them here.

Judged like the store's "in force", at the visit's time, on the newest record of each (kind, serial) performed by
then, so the gate can say *why* none is in force: missing, failed (its reasons), or expired (when). In production
a simulated record does not count: it calibrated a simulator.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from acquisition.stream import DeviceIdentity, StreamSpec
from calibration.records import CalibrationRecord, utc_text
from sessions.preflight.result import GateResult, gate, not_applicable


class RequiredCalibration(BaseModel):
    """A calibration the visit needs: its kind, for which device, because of which instrument."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    device_serial: str
    instrument: str


def calibration_serials(specs: Sequence[StreamSpec], scanner: DeviceIdentity | None = None) -> dict[str, str]:
    """kind -> the device serial its record names, from the opened streams and scanner (module docstring)."""
    out: dict[str, str] = {}
    plates = [s for s in specs if s.kind == "plate" and s.nominal_rate > 0]
    if plates:
        out["plate-tare"] = out["plate-mass"] = plates[0].device.serial
    if scanner is not None:
        out["scanner-scale"] = scanner.serial
    return out


def required_calibrations(instruments: Iterable[str], table: Mapping[str, Sequence[str]],
                          serials: Mapping[str, str]) -> tuple[list[RequiredCalibration], list[str]]:
    """The records needed by the visit's `instruments` (protocol steps' instruments), and the kinds whose device
    is not among the opened ones (a one-line problem each: the devices gate says which device is missing)."""
    needed: list[RequiredCalibration] = []
    problems: list[str] = []
    for instrument in dict.fromkeys(instruments):
        for kind in table.get(instrument, ()):
            serial = serials.get(kind)
            if serial is None:
                problems.append(f"{kind} ({instrument}): no opened device to check it for")
            else:
                needed.append(RequiredCalibration(kind=kind, device_serial=serial, instrument=instrument))
    return needed, problems


def _newest(records: Sequence[CalibrationRecord], kind: str, serial: str,
            at: _dt.datetime) -> CalibrationRecord | None:
    found = None
    for rec in records:  # the store's sequence order: the last one performed by `at` is the newest
        if rec.key == (kind, serial) and rec.performed <= at:
            found = rec
    return found


def check_calibrations(required: Sequence[RequiredCalibration], records: Sequence[CalibrationRecord], *,
                       at: _dt.datetime, production: bool = False, problems: Sequence[str] = ()) -> GateResult:
    """Pass when every `required` record is in force at `at` (newest of its kind and serial, passed, unexpired;
    in production, not simulated). `records`: the store's, in sequence order."""
    if not required and not problems:
        return not_applicable("calibrations", "no instrument of this visit needs a calibration")
    failures = list(problems)
    measured: dict[str, Any] = {}
    for req in required:
        key = f"{req.kind}:{req.device_serial}"
        rec = _newest(records, req.kind, req.device_serial, at)
        if rec is None:
            failures.append(f"{req.kind} for {req.device_serial} ({req.instrument}): no record; run "
                            f"`amuse-acq calibrate {req.kind}`")
            measured[key] = {"record": None}
            continue
        measured[key] = {"record": rec.id, "passed": rec.passed, "expires_utc": rec.expires_utc,
                         "simulated": rec.simulated}
        if not rec.passed:
            failures.append(f"{req.kind} for {req.device_serial}: the newest record ({rec.performed_utc}) failed: "
                            + "; ".join(rec.reasons))
        elif rec.expired(at):
            failures.append(f"{req.kind} for {req.device_serial}: expired at {rec.expires_utc}; run "
                            f"`amuse-acq calibrate {req.kind}`")
        elif production and rec.simulated:
            failures.append(f"{req.kind} for {req.device_serial}: the record in force was taken on a simulator")
    ok = ", ".join(f"{r.kind} ({r.device_serial})" for r in required)
    return gate("calibrations", failures, f"in force at {utc_text(at)}: {ok}", measured=measured,
                threshold={"at_utc": utc_text(at), "required": [r.model_dump() for r in required],
                           "production": production})
