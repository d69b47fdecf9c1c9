"""Record one golden visit: the real drivers on the wire-level simulators (`SimulatedRig`), the real session
manager, the steps and faults of its definition, sealed into a data directory.

This is the demo's visit (`sessions.demo`) cut to a few seconds and given its faults at known times: the rig plays
the patient (`set_step`), the session marks the steps, and each fault is armed on the device's own switchboard
(`SimulatedRig.arm_fault`, `FaultSwitchboard.arm`) so it crosses the real wire. Times are from the step's start on
the host clock; a recording therefore differs from the last one in its samples and times (the devices and the
host are not lock-stepped), never in what it contains: the claims of the definition are checked on every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from calibration.records import CalibrationRecord
from sessions.manager import SessionManager
from sessions.scan_encoding import encode_capture
from sessions.sealed_visit import SealedVisit
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity
from tests.goldens.definitions import OPERATOR, SITE, Golden, StepPlan, golden_settings

#: how long a scan or the photo set may take to be ingested before the golden is refused
INGEST_TIMEOUT_S = 20.0
#: fixed calibration records: a golden's summary must not change because the clock did
_CAL_UTC = "2026-01-05T09:00:00Z"


def golden_calibration() -> list[dict[str, object]]:
    recs = [
        CalibrationRecord(id=f"plate-tare:SIM-CB4-000123:{_CAL_UTC}", kind="plate-tare",
                          device_serial="SIM-CB4-000123", values={"offset_counts": [0, 0, 0, 0]},
                          performed_utc=_CAL_UTC, performed_by=OPERATOR, passed=True,
                          expires_utc="2099-01-01T00:00:00Z", simulated=True),
        CalibrationRecord(id=f"emg-noise:SIM-BIT-A:{_CAL_UTC}", kind="emg-noise", device_serial="SIM-BIT-A",
                          values={"rms_uv": 1.6}, performed_utc=_CAL_UTC, performed_by=OPERATOR, passed=True,
                          expires_utc="2099-01-01T00:00:00Z", simulated=True),
    ]
    return [r.model_dump() for r in recs]


def record_golden(golden: Golden, data_dir: Path, *, progress: Callable[[str], None] = print) -> SealedVisit:
    """Record and seal `golden` into `data_dir` (a fresh directory); returns the sealed visit."""
    settings = golden_settings(data_dir)
    ident = VisitIdentity.checked(subject=golden.subject, visit=golden.visit, operator=OPERATOR, site=SITE,
                                  pattern=settings.subject_pattern, max_len=settings.subject_max_len,
                                  site_pattern=settings.site_pattern)
    with SimulatedRig(seed=golden.seed) as rig:
        session = SessionManager.open(settings, ident, simulated=True, calibration=golden_calibration(),
                                      scan_encoder=encode_capture)
        with session:  # sealed on leaving, also when a step raises (the exception then propagates)
            for step in golden.steps:
                _run_step(session, rig, golden, step)
                progress(f"  {golden.name}: {step.name} done")
        sealed = session.sealed
    if sealed is None:
        raise RuntimeError(f"{golden.name}: the visit was not sealed")
    return sealed


def _run_step(session: SessionManager, rig: SimulatedRig, golden: Golden, step: StepPlan) -> None:
    if step.name == "preflight":
        session.start_step(step.name)
        drivers = {src.name: src for src in rig.sources()}
        for name in golden.sources:
            if name == "scanner":
                session.add_scanner(rig.scanner())
            else:
                session.add_source(drivers[name])
        session.end_step()
        return
    if step.kind == "manual":
        session.start_step(step.name)
        session.marker("manual.done", note="simulated: done outside the acquisition software")
        session.end_step()
        return
    if step.kind in ("scan", "photos"):
        session.start_step(step.name)
        before = _ingested(session)
        if step.kind == "photos":
            rig.take_photos()
        else:
            rig.take_scan(step.name.removeprefix("scan_"), 1, fmt=step.scan_format)
        _wait_for(lambda: _ingested(session) > before, INGEST_TIMEOUT_S,
                  f"{golden.name}: {step.name}: nothing ingested within {INGEST_TIMEOUT_S:.0f} s")
        session.end_step()
        return
    rig.set_step(step.name, step.seconds)
    session.start_step(step.name, duration_s=step.seconds)
    t0 = time.monotonic()
    for fault in sorted(step.faults, key=lambda f: f.at_s):
        _sleep_until(t0 + fault.at_s)
        rig.arm_fault(fault.device, fault.fault, fault.count)
    _sleep_until(t0 + step.seconds)
    session.end_step()
    rig.set_step("idle", 1.0)


def _ingested(session: SessionManager) -> int:
    st = session.status()["sources"]
    return int(sum(s["counters"].get("captures_ingested", 0) for s in st.values()))


def _sleep_until(t: float) -> None:
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


def _wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise RuntimeError(what)
        time.sleep(0.05)
