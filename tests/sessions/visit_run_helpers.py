"""Helpers for the `visit run` end-to-end tests: settings with short pre-flight captures, calibration records in
force for the simulated rig, a small protocol, and reading what a sealed visit kept."""

from __future__ import annotations

import datetime as _dt
import textwrap
from pathlib import Path
from typing import Any

from acquisition.config import AcqSettings
from acquisition.visitfile.reader import VisitFile
from calibration.store import CalibrationStore
from sessions.protocol import ProtocolFile, parse_protocol
from sessions.runner import PROTOCOL_RUN_QC, RunRecord
from sessions.simulated_rig import CELL_BOARD_SERIAL
from tests.sessions.preflight_fakes import record

SPEED = 20.0
PREFLIGHT = {"emg_rest_s": 1.0, "plate_capture_s": 0.5}


def settings(data_dir: Path) -> AcqSettings:
    return AcqSettings(data_dir=data_dir, create_data_dir=True, compaction_interval_s=0.5,
                       preflight=PREFLIGHT)  # type: ignore[arg-type]


def calibrate(data_dir: Path, scanner_serial: str) -> None:
    """The records the simulated rig's plate and scanner need, in force now (as `calibrate` would store them)."""
    store = CalibrationStore(data_dir)
    now = _dt.datetime.now(_dt.timezone.utc)
    for kind, serial in (("plate-tare", CELL_BOARD_SERIAL), ("plate-mass", CELL_BOARD_SERIAL),
                         ("scanner-scale", scanner_serial)):
        store.append(record(kind, serial, at=now, simulated=True,
                            values={"offset_kg": {"TL": 0.0, "TR": 0.0, "BL": 0.0, "BR": 0.0}}
                            if kind == "plate-tare" else None))


SMALL = textwrap.dedent('''\
    protocol_version = "1.0"
    name = "visit-run-test"

    [qc.streams.jaw_tools]
    signal_channels = ["head_tx", "head_ty", "head_tz", "jaw_tx", "jaw_ty", "jaw_tz"]

    [qc.streams.cop]
    signal_channels = []

    [[steps]]
    name = "questionnaires"
    instrument = "manual"
    title = "Questionnaires (eCRF)"

    [[steps]]
    name = "emg_rest"
    instrument = "emg_jaw"
    title = "Rest"
    duration_s = 10.0

    [[steps]]
    name = "jaw_protrusion"
    instrument = "emg_jaw"
    title = "Protrusion"
    repetitions = 3
    duration_s = 3.0
    nominal_s = 12.0

    [[steps]]
    name = "stab_eyes_open"
    instrument = "stabilometry"
    title = "Stabilometry, eyes open"
    duration_s = 51.2
    visits = ["D0", "W12", "W24"]

    [steps.qc]
    min_load_kg = 20.0
''')


def small_protocol() -> ProtocolFile:
    return parse_protocol(SMALL.encode(), source="visit-run-test.toml")


def run_record(path: Path) -> tuple[RunRecord, dict[str, Any], list[Any]]:
    """The sealed file's run record, its `/qc`, and its events."""
    with VisitFile.open(path, verify="quick") as vf:
        return RunRecord.model_validate(vf.qc[PROTOCOL_RUN_QC]), dict(vf.qc), list(vf.events())
