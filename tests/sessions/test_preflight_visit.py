"""The pre-flight end to end: inputs taken from opened sources, a failed gate overridden, the sealed visit holding
`/qc/preflight` with each gate's status; and the LSL clock gate's offsets taken from a real inlet."""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from pathlib import Path

import pytest

from acquisition.config import AcqSettings
from acquisition.lsl.inlet import LslInletConfig, LslInletSource
from acquisition.lslenv import pylsl
from acquisition.visitfile.reader import VisitFile
from calibration.store import CalibrationStore
from drivers.signals.plate_load import PlateLoad
from sessions.manager import SessionManager
from sessions.preflight import (ExpectedDevice, PlannedStep, collect_inputs, override_gate, planned_steps,
                                read_preflight, record_preflight, run_preflight)
from sessions.preflight.live import watch_lsl_clocks
from sessions.protocol import DEFAULT_PROTOCOL
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitCode, VisitIdentity
from tests.sessions.preflight_fakes import emg_source, plate_source, record

STEPS = (PlannedStep(name="emg_rest", instruments=("emg_jaw",), total_s=10.0),
         PlannedStep(name="stab_eyes_open", instruments=("stabilometry",), total_s=51.2))


def test_a_sealed_visit_holds_its_preflight(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path, create_data_dir=True, compaction_interval_s=0.2, lsl_outlets=False,
                           preflight={"emg_rest_s": 1.0, "plate_capture_s": 0.5})  # type: ignore[arg-type]
    store = CalibrationStore(tmp_path)
    now = _dt.datetime.now(_dt.timezone.utc)
    for kind, serial in (("plate-tare", "PLATE-1"), ("plate-mass", "PLATE-1")):
        store.append(record(kind, serial, at=now))
    emg, plate = emg_source(sigma_uv=2.0), plate_source(load_kg=30.0)  # someone is standing on the plate
    emg.open()
    plate.open()
    expected = [ExpectedDevice(label="emg", stream="emg", serial="EMG-1"),
                ExpectedDevice(label="plate", stream="plate_raw", serial="PLATE-1")]
    inputs = collect_inputs(settings, sources=[emg, plate], expected=expected, steps=STEPS, visit_simulated=True)
    assert inputs.emg[0].uv.shape == (1000, 4) and inputs.plate is not None and inputs.free_bytes > 0
    report = run_preflight(inputs, settings=settings)
    assert [g.name for g in report.blocking] == ["plate_unloaded"], report.summary()
    assert abs(report["plate_unloaded"].measured["total_kg"] - 30.0) < 0.1  # through the stream's scale/offset

    ident = VisitIdentity.checked(subject="ABC-001", visit="D0", operator="tech1", site="SIM")
    with SessionManager.open(settings, ident, simulated=True) as session:
        for src in (emg, plate):
            session.add_source(src, opened=True)
        record_preflight(session, report)
        override_gate(session, report, "plate_unloaded", "the subject stood on it early; cleared and seen empty",
                      "tech1")
        assert report.passed
        session.start_step("emg_rest", duration_s=0.3)
        time.sleep(0.3)
    assert session.sealed is not None and session.sealed.report.ok, session.sealed.report.problems
    assert session.sealed.qc["preflight"]["gates"][5]["status"] == "overridden"

    with VisitFile.open(session.sealed.path, verify="quick") as vf:
        stored = read_preflight(vf)
        events = vf.events(name="preflight.recorded")
        overrides = vf.events(name="preflight.overridden")
    assert stored == report  # the newest record (after the override) is the one kept
    assert stored.summary() == {"production_sources": "pass", "devices": "pass", "calibrations": "pass",
                                "disk_space": "pass", "emg_rest_noise": "pass", "plate_unloaded": "overridden",
                                "lsl_clock": "not_applicable"}
    ov = stored["plate_unloaded"].override
    assert ov is not None and ov.operator == "tech1" and ov.reason.startswith("the subject stood")
    assert [e.payload["blocking"] for e in events] == [["plate_unloaded"], []]
    assert len(overrides) == 1 and overrides[0].payload["gate"] == "plate_unloaded"
    assert overrides[0].kind == "operator" and overrides[0].payload["operator"] == "tech1"


def test_lsl_clock_offsets_come_from_the_inlet() -> None:
    name = f"pf-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "EMG", 2, 100.0, pylsl.cf_float32, f"src-{name}")
    outlet = pylsl.StreamOutlet(info)
    src = LslInletSource(LslInletConfig(lsl_name=name, resolve_timeout_s=5.0, time_correction_every_s=0.2,
                                        poll_s=0.05))
    src.open()
    try:
        got = watch_lsl_clocks([src], min_corrections=3, max_wait_s=10.0)
    finally:
        src.close()
        del outlet
    (tc,) = got.values()
    # (the first measurement of a fresh inlet may time out: counted, not an offset)
    assert list(got) == [src.streams[0].name] and len(tc.offsets_s) >= 3
    assert max(tc.offsets_s) - min(tc.offsets_s) < 0.002  # one machine, loopback: steady


@pytest.mark.soak
def test_the_simulated_rig_passes_its_signal_gates(tmp_path: Path) -> None:
    """The real drivers on their wire-level simulators (~20 s: the rig takes most of it to open)."""
    settings = AcqSettings(data_dir=tmp_path, create_data_dir=True)
    with SimulatedRig(seed=1) as rig:
        sources, scanner = rig.sources(), rig.scanner()
        for src in sources:
            src.open()
        scanner.open()
        try:
            expected = [ExpectedDevice(label=b, stream=b, serial=s) for b, s in (("emg_a", "SIM-BIT-A"),
                                                                                  ("emg_b", "SIM-BIT-B"))]
            steps = planned_steps(DEFAULT_PROTOCOL.for_visit(VisitCode.D0))
            inputs = collect_inputs(settings, sources=sources, scanners=[scanner], expected=expected, steps=steps,
                                    visit_simulated=True)
            loaded = run_preflight(inputs, settings=settings)  # the simulated subject stands on the plate
            rig.place_load(PlateLoad.empty())
            time.sleep(0.3)
            inputs = collect_inputs(settings, sources=sources, scanners=[scanner], expected=expected, steps=steps,
                                    visit_simulated=True)
            report = run_preflight(inputs, settings=settings)
        finally:
            for src in sources:
                src.close()
            scanner.close()
    assert loaded["plate_unloaded"].status == "fail" and loaded["plate_unloaded"].measured["total_kg"] > 20
    assert {g.name: g.status for g in report.gates if g.name != "calibrations"} == {
        "production_sources": "pass", "devices": "pass", "disk_space": "pass", "emg_rest_noise": "pass",
        "plate_unloaded": "pass", "lsl_clock": "not_applicable"}
    assert len(report["emg_rest_noise"].measured["rest_rms_uv"]) == 2  # both boards, captured at once
    # an empty store: the plate's and the scanner's calibrations are missing
    cal = report["calibrations"]
    assert cal.status == "fail" and "scanner-scale for SIM-SCAN-0001" in cal.detail
