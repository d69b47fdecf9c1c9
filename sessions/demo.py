"""`amuse-acq demo`: a whole simulated visit, end to end, at accelerated timing (about a minute).

The visit follows the protocol of the chosen visit code (stabilometry only at D0, W12, W24), with every instrument
behind its real wire protocol (see `simulated_rig`), and ends with a sealed, verified file in the data directory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from acquisition.clock import utc_iso
from acquisition.config import AcqSettings
from acquisition.visitfile.manifest import read_manifest
from calibration.records import CalibrationRecord
from sessions.manager import SealedVisit, SessionManager
from sessions.protocol import DEFAULT_PROTOCOL
from sessions.scan_encoding import encode_capture
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity, validate_visit

#: accelerated duration of each device step, seconds (the nominal durations are in sessions.protocol)
DEMO_DURATIONS = {
    "emg_rest": 3.0,
    "emg_cotton_roll": 2.5,
    "emg_clench_icp": 4.5,
    "jaw_max_opening": 4.5,
    "jaw_protrusion": 3.0,
    "jaw_laterotrusion_r": 3.0,
    "jaw_laterotrusion_l": 3.0,
    "jaw_freeway": 3.0,
    "jaw_swallow": 3.0,
    "stab_eyes_open": 8.0,
    "stab_eyes_closed": 8.0,
}
SCAN_FORMATS = ("obj", "ply", "stl")


def next_demo_subject(data_dir: Path) -> str:
    """First `SIM-NNN` without a sealed or open visit in `data_dir` (a demo never collides with a past one)."""
    used = set()
    for p in list(data_dir.glob("SIM-*.h5")) + list((data_dir / ".open").glob("SIM-*")):
        m = re.match(r"^(SIM-\d{3})_", p.name)
        if m:
            used.add(m.group(1))
    for i in range(1, 1000):
        s = f"SIM-{i:03d}"
        if s not in used:
            return s
    raise RuntimeError(f"{data_dir}: no free SIM-NNN subject left for the demo")


def demo_calibration() -> list[dict[str, object]]:
    now = utc_iso()
    recs = [
        CalibrationRecord(id="plate_tare", kind="tare", device_serial="SIM-CB4-000123",
                          values={"offset_counts": [0, 0, 0, 0]}, performed_utc=now,
                          expires_utc="2099-01-01T00:00:00Z", simulated=True),
        CalibrationRecord(id="emg_noise_floor", kind="emg_noise_floor", device_serial="SIM-BIT-A",
                          values={"rms_uv": 1.6}, performed_utc=now, expires_utc="2099-01-01T00:00:00Z",
                          simulated=True),
    ]
    return [r.model_dump() for r in recs]


def run_demo(settings: AcqSettings, *, subject: str | None = None, visit: str = "D0", operator: str = "demo",
             speed: float = 1.0, progress: Callable[[str], None] = print) -> SealedVisit:
    speed = speed if speed > 0 else 1.0
    data_dir = Path(settings.data_dir)
    code = validate_visit(visit)
    ident = VisitIdentity.checked(subject=subject or next_demo_subject(data_dir), visit=code.value,
                                  operator=operator, site=settings.site, pattern=settings.subject_pattern,
                                  max_len=settings.subject_max_len)
    steps = DEFAULT_PROTOCOL.for_visit(code)
    progress(f"demo: simulated visit {ident.key} ({len(steps)} protocol steps) into {data_dir.resolve()}")
    with SimulatedRig(seed=sum(map(ord, ident.key))) as rig:
        session = SessionManager.open(settings, ident, simulated=True, calibration=demo_calibration(),
                                      scan_encoder=encode_capture)
        try:
            for step in steps:
                _run_step(session, rig, step.name, step.instrument, step.repetitions, speed, progress)
        except BaseException:
            progress("demo: interrupted; sealing what was recorded")
            session.close()
            raise
        sealed = session.close()
    assert read_manifest(data_dir).get(sealed.path.name) == sealed.sha256
    return sealed


def _run_step(session: SessionManager, rig: SimulatedRig, name: str, instrument: str, reps: int, speed: float,
              progress: Callable[[str], None]) -> None:
    if name == "preflight":
        session.start_step(name)
        for src in rig.sources():
            specs = session.add_source(src)
            progress(f"  device ok: {src.name}: " + ", ".join(f"{s.name} ({s.device.model} s/n {s.device.serial})"
                                                            for s in specs))
        scanner = rig.scanner()
        session.add_scanner(scanner)
        progress(f"  device ok: scanner (export folder {rig.scanner_folder})")
        session.end_step()
        return
    if instrument == "manual":
        session.start_step(name)
        session.marker("manual.done", note="simulated: done outside the acquisition software")
        session.end_step()
        return
    if instrument == "scanner":
        session.start_step(name)
        before = _ingested(session)
        if name == "photos":
            rig.take_photos()
            expected = 1
        else:
            condition = name.removeprefix("scan_")
            for rep in range(1, reps + 1):
                rig.take_scan(condition, rep, fmt=SCAN_FORMATS[(rep - 1) % len(SCAN_FORMATS)])
            expected = reps
        ok = _wait(lambda: _ingested(session) - before >= expected, 20.0)
        progress(f"  {name}: {_ingested(session) - before}/{expected} capture(s) ingested" + ("" if ok else " (late)"))
        session.end_step()
        return
    dur = DEMO_DURATIONS.get(name, 3.0) / speed
    rig.set_step(name, dur)
    session.start_step(name, repetition=reps, duration_s=dur)
    time.sleep(dur)
    session.end_step()
    rig.set_step("idle", 1.0)
    progress(f"  {name}: {dur:.1f} s")


def _ingested(session: SessionManager) -> int:
    st = session.status()["sources"]
    return int(sum(s["counters"].get("captures_ingested", 0) for s in st.values()))


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()
