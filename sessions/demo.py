"""`amuse-acq demo`: a whole simulated visit, end to end, at accelerated timing (about a minute).

The visit follows the protocol of the chosen visit code (stabilometry only at D0, W12, W24), with every instrument
behind its real wire protocol (see `simulated_rig`), and ends with a sealed, verified file in the data directory.

Stopping it (`stop`, set by the CLI on SIGTERM or Ctrl-C) ends the current step at once, skips the rest, records a
`visit.stopped` operator event and seals what was recorded, exactly as `record` does: an interrupted demo never
leaves an open visit behind for `recover`.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from acquisition.calibration_config import CalibrationSettings
from acquisition.config import AcqSettings
from acquisition.visitfile.manifest import read_manifest
from calibration.records import PER_VISIT_KINDS, CalibrationRefused
from calibration.store import CalibrationStore
from sessions.calibrate_cli import available_commands, default_args, result_line
from sessions.calibrate_kinds.base import CalibrationContext
from sessions.manager import SealedVisit, SessionManager, SessionState
from sessions.session_errors import VisitFailed
from sessions.protocol import DEFAULT_PROTOCOL
from sessions.data_dir import DEMO_DEFAULT_DATA_DIR, check_visit_free, prepare_data_dir
from sessions.scan_encoding import encode_capture
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity, validate_visit
from sessions.visit_calibration import records_in_force, store_failures

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


#: capture and settling seconds of the demo's plate procedures (the defaults, meant for a technician's hands, would
#: add some 20 s to a one-minute demo); divided by --speed, never below these floors
DEMO_CALIBRATION_S = {"capture_s": (1.0, 0.5), "settle_s": (0.4, 0.3)}


def _demo_settings(settings: AcqSettings, speed: float) -> AcqSettings:
    cal = settings.calibration.model_dump()
    for section in ("plate_tare", "plate_mass"):
        for name, (seconds, floor) in DEMO_CALIBRATION_S.items():
            cal[section][name] = max(floor, seconds / speed)
    return settings.model_copy(update={"calibration": CalibrationSettings.model_validate(cal)})


def demo_calibration(settings: AcqSettings, rig: SimulatedRig, *, operator: str, speed: float = 1.0,
                     progress: Callable[[str], None] = print,
                     stop: threading.Event | None = None) -> list[dict[str, object]]:
    """The records in force for the demo's visit, after running on `rig` every procedure (but those taken on the
    patient during the visit) that has no simulated record in force in `DATA_DIR/calibration/`, into that store:
    the real procedures on the simulated instruments, each said in one line."""
    store = CalibrationStore(Path(settings.data_dir))
    with store_failures():
        in_force = {r.kind for r in store.in_force() if r.simulated}
    quick = _demo_settings(settings, speed)
    for command in available_commands():
        if command.kind in PER_VISIT_KINDS or command.kind in in_force or (stop is not None and stop.is_set()):
            continue
        ctx = CalibrationContext(settings=quick, operator=operator, simulate=True, say=lambda _line: None, rig=rig)
        try:
            record = command.run(default_args(command, operator=operator), ctx)
        except CalibrationRefused as exc:
            progress(f"demo: no {command.kind} record in force; on the simulated rig it was refused: {exc}")
            continue
        with store_failures():
            stored, path = store.append(record)
        progress(f"demo: no {command.kind} record in force; ran it on the simulated rig: {result_line(stored)} "
                 f"(stored: {path})")
    return records_in_force(Path(settings.data_dir))


class DemoStop(threading.Event):
    """A stop request with its reason (e.g. 'SIGTERM'), set from a signal handler, read by the step loop."""

    reason: str = ""

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.set()


def run_demo(settings: AcqSettings, *, subject: str | None = None, visit: str = "D0", operator: str = "demo",
             speed: float = 1.0, progress: Callable[[str], None] = print,
             stop: DemoStop | None = None) -> SealedVisit | None:
    """Record and seal one simulated visit. Returns None only if `stop` came before the visit was opened.

    Everything that can refuse the visit (identity, data directory, a visit already sealed or open) is checked
    before the simulators start.
    """
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"demo speed must be a finite factor > 0, got {speed!r}")
    stop = stop if stop is not None else DemoStop()
    data_dir = Path(settings.data_dir)
    code = validate_visit(visit)
    # an explicit empty subject is refused (it used to become the next SIM-NNN silently)
    ident = VisitIdentity.checked(subject=next_demo_subject(data_dir) if subject is None else subject,
                                  visit=code.value, operator=operator, site=settings.site,
                                  pattern=settings.subject_pattern, max_len=settings.subject_max_len,
                                  site_pattern=settings.site_pattern)
    prepare_data_dir(data_dir, create=settings.create_data_dir or data_dir == DEMO_DEFAULT_DATA_DIR)
    check_visit_free(data_dir, ident.key)
    steps = DEFAULT_PROTOCOL.for_visit(code)
    progress(f"demo: simulated visit {ident.key} ({len(steps)} protocol steps) into {data_dir.resolve()}")
    with SimulatedRig(seed=sum(map(ord, ident.key))) as rig:
        calibration = demo_calibration(settings, rig, operator=operator, speed=speed, progress=progress, stop=stop)
        if stop.is_set():
            progress(f"demo: stopped ({stop.reason}) before the visit was opened; nothing recorded")
            return None
        progress(f"demo: {len(calibration)} calibration record(s) in force copied into the visit: "
                 + (", ".join(f"{r['kind']} ({r['device_serial']})" for r in calibration) or "none"))
        session = SessionManager.open(settings, ident, simulated=True, calibration=calibration,
                                      scan_encoder=encode_capture)
        done = 0
        try:
            for step in steps:
                if stop.is_set():
                    break
                _run_step(session, rig, step.name, step.instrument, step.repetitions, speed, progress, stop)
                done += 1
        except VisitFailed:
            # nothing can be sealed: release the devices and the journal; its one line says what was kept
            with contextlib.suppress(VisitFailed):
                session.close()
            raise
        except BaseException:
            progress("demo: interrupted; sealing what was recorded")
            session.close()
            raise
        if stop.is_set():
            session.operator_action("visit.stopped", reason=stop.reason, steps_completed=done,
                                    steps_total=len(steps))
            progress(f"demo: stopped ({stop.reason}) after {done} of {len(steps)} steps; sealing what was recorded")
        sealed = session.close()
    assert read_manifest(data_dir).get(sealed.path.name) == sealed.sha256
    return sealed


def _run_step(session: SessionManager, rig: SimulatedRig, name: str, instrument: str, reps: int, speed: float,
              progress: Callable[[str], None], stop: threading.Event) -> None:
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
        ok = _wait(session, lambda: _ingested(session) - before >= expected, 20.0, stop)
        _raise_if_failed(session)
        progress(f"  {name}: {_ingested(session) - before}/{expected} capture(s) ingested" + ("" if ok else " (late)"))
        session.end_step()
        return
    dur = DEMO_DURATIONS.get(name, 3.0) / speed
    rig.set_step(name, dur)
    session.start_step(name, repetition=reps, duration_s=dur)
    _wait(session, lambda: False, dur, stop)
    session.end_step()  # a failed visit raises its VisitFailed here
    rig.set_step("idle", 1.0)
    progress(f"  {name}: {dur:.1f} s" + (" (cut short: stop requested)" if stop.is_set() else ""))


def _ingested(session: SessionManager) -> int:
    st = session.status()["sources"]
    return int(sum(s["counters"].get("captures_ingested", 0) for s in st.values()))


def _raise_if_failed(session: SessionManager) -> None:
    if session.state is SessionState.failed:
        session.end_step()  # raises the visit's VisitFailed


def _wait(session: SessionManager, pred: Callable[[], bool], timeout: float, stop: threading.Event) -> bool:
    """Until `pred()`, `timeout`, a stop request, or the visit failed (its journal could not be written: there
    is nothing left to wait for; a full disk used to leave the demo stepping through the protocol for a minute)."""
    end = time.monotonic() + timeout
    while not stop.is_set() and session.state is not SessionState.failed:
        if pred():
            return True
        left = end - time.monotonic()
        if left <= 0:
            break
        stop.wait(min(0.1, left))
    return pred()
