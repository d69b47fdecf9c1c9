"""`collect_inputs(...)`: the pre-flight's inputs from the opened sources, before the session reads them.

Run after the sources are opened and before `SessionManager.add_source(source, opened=True)` starts their reader
threads: a source has one reader, and these captures read it. Samples read here are not recorded (the visit's
first step has not begun); a device's sequence numbers go on, so nothing in the recording looks lost.

In order, each bounded in time: the LSL inlets are read together until each has measured `lsl_min_corrections`
clock offsets (the inlet measures one at its first read, then every `time_correction_every_s`) or
`lsl_max_wait_s` passed; `emg_rest_s` of every EMG stream (`calibration.capture`, all the streams of a
multi-board source at once); `plate_capture_s` of the regular plate stream. A capture that fails (a device that
stopped delivering) fails its gate with the one-line error; it does not stop the other gates.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping, Sequence

from acquisition.clock import local_clock
from acquisition.config import AcqSettings
from acquisition.events import Event
from acquisition.source import Source, SourceError
from calibration.capture import capture
from calibration.emg_noise import EmgSegment
from calibration.plate_procedure import plate_stream
from calibration.plate_tare import CELLS
from calibration.records import CalibrationRecord
from calibration.store import CalibrationStore, CalibrationStoreError
from sessions.calibrate_kinds.emg_noise import capture_streams
from sessions.preflight.devices import ExpectedDevice, found_devices
from sessions.preflight.disk import free_bytes
from sessions.preflight.runner import LSL_TRANSPORT, PlannedStep, PreflightInputs
from sessions.preflight.signals import TIME_CORRECTION, PlateSample, TimeCorrections, corrections_from_events


def _is_lsl(src: Source) -> bool:
    return any(s.device.transport.startswith(LSL_TRANSPORT) for s in src.streams)


def watch_lsl_clocks(sources: Sequence[Source], *, min_corrections: int, max_wait_s: float,
                     clock: Callable[[], float] = local_clock) -> dict[str, TimeCorrections]:
    """Read the LSL `sources` in turn (their samples dropped) until each stream's inlet has measured
    `min_corrections` clock offsets, or `max_wait_s` passed: stream -> its offsets."""
    events: list[Event] = []
    deadline = clock() + max_wait_s
    wanted = {s.name for src in sources for s in src.streams}

    def counts() -> dict[str, int]:
        got = dict.fromkeys(wanted, 0)
        for ev in events:
            if ev.name == TIME_CORRECTION and ev.stream in got:
                got[ev.stream] += 1
        return got

    while sources and min(counts().values(), default=min_corrections) < min_corrections and clock() < deadline:
        for src in sources:
            src.read(0.05)
            events.extend(src.drain_events())
    return corrections_from_events(events)


def capture_emg(sources: Sequence[Source], seconds: float, *,
                clock: Callable[[], float] = local_clock) -> list[EmgSegment]:
    """`seconds` of every EMG stream of `sources`, microvolts; a source whose streams are all EMG (the two
    BITalino boards) is captured at once, any other stream by stream."""
    out: list[EmgSegment] = []
    for src in sources:
        emg = [s for s in src.streams if s.kind == "emg"]
        if not emg:
            continue
        if len(emg) == len(src.streams):
            out += capture_streams(src, seconds, start_after=clock(), clock=clock)
            continue
        for spec in emg:
            cap = capture(src, spec.name, seconds, clock=clock)
            out.append(EmgSegment(stream=spec.name, channels=spec.channels, rate=spec.nominal_rate, uv=cap.values,
                                  t=cap.t_lsl, missing=cap.missing))
    return out


def _tare(records: Sequence[CalibrationRecord], serial: str, at: _dt.datetime) -> dict[str, float] | None:
    newest = None
    for rec in records:
        if rec.key == ("plate-tare", serial) and rec.performed <= at:
            newest = rec
    if newest is None or not newest.in_force(at):
        return None
    offsets = newest.values.get("offset_kg")
    return {str(k): float(v) for k, v in offsets.items()} if isinstance(offsets, dict) else None


def capture_plate(sources: Sequence[Source], seconds: float, *, records: Sequence[CalibrationRecord],
                  at: _dt.datetime, clock: Callable[[], float] = local_clock) -> PlateSample | None:
    """`seconds` of the first source with a regular plate stream in kg (None: no such source), with the tare in
    force for that plate."""
    for src in sources:
        if not any(s.kind == "plate" and s.nominal_rate > 0 for s in src.streams):
            continue
        spec = plate_stream(src)
        cap = capture(src, spec.name, seconds, clock=clock)
        cols = [spec.channels.index(c) for c in CELLS]
        return PlateSample(stream=spec.name, channels=CELLS, kg=cap.values[:, cols], missing=cap.missing,
                           tare_kg=_tare(records, spec.device.serial, at))
    return None


def collect_inputs(settings: AcqSettings, *, sources: Sequence[Source], scanners: Iterable[object] = (),
                   expected: Sequence[ExpectedDevice], steps: Sequence[PlannedStep],
                   open_errors: Mapping[str, str] | None = None, visit_simulated: bool = False,
                   replay_of: str | None = None, at: _dt.datetime | None = None,
                   clock: Callable[[], float] = local_clock) -> PreflightInputs:
    """The gates' inputs from the opened `sources` and `scanners` (module docstring). `open_errors`: the rig's
    devices that failed to open, with their one-line errors. `at`: the visit's time (default now)."""
    at = at or _dt.datetime.now(_dt.timezone.utc)
    pf = settings.preflight
    errors: dict[str, str] = {}
    instruments = {i for s in steps for i in s.instruments}
    records: list[CalibrationRecord] = []
    try:
        records = CalibrationStore(settings.data_dir).records()
    except CalibrationStoreError as exc:
        errors["calibrations"] = str(exc)
    lsl: dict[str, TimeCorrections] = {}
    try:
        lsl = watch_lsl_clocks([s for s in sources if _is_lsl(s)], min_corrections=pf.lsl_min_corrections,
                               max_wait_s=pf.lsl_max_wait_s, clock=clock)
    except SourceError as exc:
        errors["lsl_clock"] = str(exc)
    emg: list[EmgSegment] = []
    if "emg_jaw" in instruments:
        try:
            emg = capture_emg(sources, pf.emg_rest_s, clock=clock)
        except (SourceError, ValueError) as exc:
            errors["emg_rest_noise"] = f"EMG capture failed: {exc}"
    plate = None
    if "stabilometry" in instruments:
        try:
            plate = capture_plate(sources, pf.plate_capture_s, records=records, at=at, clock=clock)
        except (SourceError, ValueError) as exc:
            errors["plate_unloaded"] = f"plate capture failed: {exc}"
    free = 0
    try:
        free = free_bytes(settings.data_dir)
    except OSError as exc:
        errors["disk_space"] = f"{settings.data_dir}: free space unknown ({exc.strerror or exc})"
    return PreflightInputs(
        at=at, production=settings.production, visit_simulated=visit_simulated, replay_of=replay_of,
        expected=tuple(expected), found=tuple(found_devices(sources, scanners)), open_errors=dict(open_errors or {}),
        steps=tuple(steps), calibration_records=tuple(records), emg=tuple(emg), plate=plate, lsl=lsl,
        data_dir=settings.data_dir, free_bytes=free, capture_errors=errors)
