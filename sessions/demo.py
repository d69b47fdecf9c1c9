"""`amuse-acq demo`: a whole simulated visit, end to end, at accelerated timing (about a minute).

The visit follows the protocol of the chosen visit code (stabilometry only at D0, W12, W24), with every instrument
behind its real wire protocol (see `simulated_rig`), and ends with a sealed, verified file in the data directory.

It is the simulated rig plus the automatic operator of `visit run --auto` driving the same protocol runner
(`sessions.visit_run`): the same window check, audit trail, pre-flight gates, step QC and sign-off as a
technician's visit, at the demo's own accelerated durations (`DEMO_DURATIONS`).

Stopping it (`stop`, set by the CLI on SIGTERM or Ctrl-C) ends the current step at once, records a `visit.stopped`
operator event, aborts the visit (`visit.aborted`, reason `stopped: SIGTERM`) and seals what was recorded: an
interrupted demo never leaves an open visit behind for `recover`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from pathlib import Path

from acquisition.calibration_config import CalibrationSettings
from acquisition.config import AcqSettings
from acquisition.visitfile.manifest import read_manifest
from calibration.records import PER_VISIT_KINDS, CalibrationRefused
from calibration.store import CalibrationStore
from sessions.calibrate_cli import available_commands, default_args, result_line
from sessions.calibrate_kinds.base import CalibrationContext
from sessions.manager import SealedVisit
from sessions.protocol import default_protocol
from sessions.data_dir import DEMO_DEFAULT_DATA_DIR, check_visit_free, prepare_data_dir
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity, validate_visit
from sessions.visit_auto import AutoOperator
from sessions.visit_calibration import records_in_force, store_failures
from sessions.visit_run import StopRequest, check_window, run_visit
from sessions.visit_windows import WindowOverride

#: accelerated duration of each device step at speed 1, seconds (the nominal durations are in the protocol), divided
#: by --speed; a scanner step lasts as long as its captures take, a manual step is done at once
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
#: add some 20 s to a one-minute demo; these keep the three procedures near 7 s); divided by --speed, never below
#: these floors
DEMO_CALIBRATION_S = {"capture_s": (0.6, 0.5), "settle_s": (0.3, 0.3)}


def _demo_settings(settings: AcqSettings, speed: float) -> AcqSettings:
    cal = settings.calibration.model_dump()
    for section in ("plate_tare", "plate_mass"):
        for name, (seconds, floor) in DEMO_CALIBRATION_S.items():
            cal[section][name] = max(floor, seconds / speed)
    return settings.model_copy(update={"calibration": CalibrationSettings.model_validate(cal)})


def demo_calibration(settings: AcqSettings, rig: SimulatedRig, *, operator: str, speed: float = 1.0,
                     progress: Callable[[str], None] = print,
                     stop: threading.Event | None = None) -> list[dict[str, object]]:
    """The records in force for the demo's (simulated) visit, after running on `rig` every procedure that has no
    simulated record in force in `DATA_DIR/calibration/`, into that store: the real procedures on the simulated
    instruments, each step said as it is done (indented), then its result in one line. Never the per-visit kinds
    (jaw-reference, emg-noise): they are measured on the visit's patient, by the visit runner."""
    store = CalibrationStore(Path(settings.data_dir))
    with store_failures():
        in_force = {r.kind for r in store.in_force() if r.simulated}
    quick = _demo_settings(settings, speed)

    def say(line: str) -> None:
        progress(f"  {line.strip()}")

    for command in available_commands():
        if command.kind in PER_VISIT_KINDS or command.kind in in_force or (stop is not None and stop.is_set()):
            continue
        progress(f"demo: no {command.kind} record in force: running it on the simulated rig")
        ctx = CalibrationContext(settings=quick, operator=operator, simulate=True, say=say, rig=rig)
        try:
            record = command.run(default_args(command, operator=operator), ctx)
        except CalibrationRefused as exc:
            progress(f"demo: no {command.kind} record in force; on the simulated rig it was refused: {exc}")
            continue
        with store_failures():
            stored, path = store.append(record)
        progress(f"demo: no {command.kind} record in force; ran it on the simulated rig: {result_line(stored)} "
                 f"(stored: {path})")
    return records_in_force(Path(settings.data_dir), simulated=True)


#: a stop request with its reason (e.g. 'SIGTERM'), set from a signal handler, read by the automatic operator
DemoStop = StopRequest
#: why the demo opens any visit code on an empty data directory (a W4 without its D0): the window rule's refusals
#: that may be overridden are, on the record; a visit already recorded or open is still refused
DEMO_WINDOW_OVERRIDE = "demo: a simulated visit, not held to the visit windows"
#: why the demo's automatic operator lifts a failed pre-flight gate (never the production gate: it cannot be)
DEMO_GATE_OVERRIDE = "demo: simulated rig, gate overridden by the automatic operator"


def run_demo(settings: AcqSettings, *, subject: str | None = None, visit: str = "D0", operator: str = "demo",
             speed: float = 1.0, progress: Callable[[str], None] = print,
             stop: StopRequest | None = None) -> SealedVisit | None:
    """Record and seal one simulated visit: the simulated rig, in this process (its patient follows the steps, its
    scanner takes the captures), and the automatic operator of `visit run --auto` driving the same runner
    (`sessions.visit_run`), at the demo's accelerated durations. Returns None only if `stop` came before the visit
    was opened.

    Everything that can refuse the visit (identity, data directory, a visit already sealed or open) is checked
    before the simulators start.
    """
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"demo speed must be a finite factor > 0, got {speed!r}")
    stop = stop if stop is not None else StopRequest()
    data_dir = Path(settings.data_dir)
    code = validate_visit(visit)
    # an explicit empty subject is refused (it used to become the next SIM-NNN silently)
    ident = VisitIdentity.checked(subject=next_demo_subject(data_dir) if subject is None else subject,
                                  visit=code.value, operator=operator, site=settings.site,
                                  pattern=settings.subject_pattern, max_len=settings.subject_max_len,
                                  site_pattern=settings.site_pattern)
    prepare_data_dir(data_dir, create=settings.create_data_dir or data_dir == DEMO_DEFAULT_DATA_DIR)
    check_visit_free(data_dir, ident.key)
    decision = check_window(settings, ident, override=WindowOverride(reason=DEMO_WINDOW_OVERRIDE, operator=operator))
    protocol = default_protocol()
    steps = protocol.protocol.for_visit(code)
    progress(f"demo: simulated visit {ident.key} ({len(steps)} protocol steps) into {data_dir.resolve()}")
    with SimulatedRig(seed=sum(map(ord, ident.key))) as rig:
        calibration = demo_calibration(settings, rig, operator=operator, speed=speed, progress=progress, stop=stop)
        if stop.is_set():
            progress(f"demo: stopped ({stop.reason}) before the visit was opened; nothing recorded")
            return None
        progress(f"demo: {len(calibration)} calibration record(s) in force copied into the visit: "
                 + (", ".join(f"{r['kind']} ({r['device_serial']})" for r in calibration) or "none"))
        auto = AutoOperator(speed=speed, durations=DEMO_DURATIONS, any_gate_reason=DEMO_GATE_OVERRIDE, hands=rig)
        sealed = run_visit(settings, ident, rig=rig.rig_sources(), protocol=protocol, operator=auto,
                           decision=decision, calibration=calibration, stop=stop, say=progress)
    assert read_manifest(data_dir).get(sealed.path.name) == sealed.sha256
    return sealed
