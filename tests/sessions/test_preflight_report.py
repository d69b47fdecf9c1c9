"""The pre-flight report: which gates apply, blocking until overridden, what an override records."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from acquisition.config import AcqSettings
from acquisition.journal.records import QcRecord, decode_meta, encode_meta
from acquisition.preflight_config import KNOWN_CALIBRATION_KINDS, KNOWN_INSTRUMENTS, PER_VISIT_CALIBRATION_KINDS
from calibration.records import CALIBRATION_KINDS, PER_VISIT_KINDS
from sessions.preflight import (GATES, ExpectedDevice, FoundDevice, GateResult, PlannedStep, PreflightError,
                                PreflightInputs, PreflightReport, TimeCorrections, run_preflight)
from sessions.protocol import Instrument
from tests.sessions.preflight_fakes import AT, emg_segment, emg_spec, plate_spec, record


def _found(*, lsl: bool = False) -> tuple[FoundDevice, ...]:
    emg = emg_spec(transport="lsl:EMG" if lsl else "serial:/dev/x")
    plate = plate_spec()
    return (FoundDevice(source="emg", stream="emg", identity=emg.device, spec=emg),
            FoundDevice(source="plate", stream="plate_raw", identity=plate.device, spec=plate))


EXPECTED = (ExpectedDevice(label="emg", stream="emg", serial="EMG-1"),
            ExpectedDevice(label="plate", stream="plate_raw", serial="PLATE-1"))
EMG_STEP = PlannedStep(name="emg_rest", instruments=("emg_jaw",), total_s=10.0)
RECORDS = (record("plate-tare", "PLATE-1"), record("plate-mass", "PLATE-1"))


def _inputs(tmp_path: Path, **kw: object) -> PreflightInputs:
    base: dict[str, object] = dict(at=AT, expected=EXPECTED[:1], found=_found()[:1], steps=(EMG_STEP,),
                                   calibration_records=RECORDS, emg=(emg_segment(),), data_dir=tmp_path,
                                   free_bytes=10**12)
    base.update(kw)
    return PreflightInputs(**base)  # type: ignore[arg-type]


def test_a_good_emg_visit_passes_and_lists_every_gate(tmp_path: Path) -> None:
    report = run_preflight(_inputs(tmp_path))
    assert [g.name for g in report.gates] == list(GATES)
    # the EMG needs no calibration from the store (emg-noise is taken during the visit)
    assert report.summary() == {"production_sources": "pass", "devices": "pass", "calibrations": "not_applicable",
                                "disk_space": "pass", "emg_rest_noise": "pass", "plate_unloaded": "not_applicable",
                                "lsl_clock": "not_applicable"}
    assert report.passed and report.blocking == []


def test_an_applicable_gate_without_its_samples_fails(tmp_path: Path) -> None:
    stab = PlannedStep(name="stab_eyes_open", instruments=("stabilometry",), total_s=51.2)
    report = run_preflight(_inputs(tmp_path, found=_found(lsl=True), expected=EXPECTED, steps=(EMG_STEP, stab),
                                   emg=()))
    assert report["emg_rest_noise"].status == "fail" and "no EMG stream" in report["emg_rest_noise"].detail
    assert report["plate_unloaded"].status == "fail" and "no plate samples" in report["plate_unloaded"].detail
    # the EMG comes from an LSL inlet: its clock must be judged, and no offset was measured
    assert report["lsl_clock"].status == "fail" and "0 clock offset(s)" in report["lsl_clock"].detail
    assert report["calibrations"].status == "pass", report["calibrations"].detail  # the plate's, in force
    ok = run_preflight(_inputs(tmp_path, found=_found(lsl=True)[:1],
                               lsl={"emg": TimeCorrections(offsets_s=(0.001, 0.0011, 0.0012))}))
    assert ok["lsl_clock"].status == "pass"


def test_a_capture_error_fails_its_gate_with_the_error(tmp_path: Path) -> None:
    report = run_preflight(_inputs(tmp_path, capture_errors={"emg_rest_noise": "EMG capture failed: board gone"}))
    assert report["emg_rest_noise"].status == "fail"
    assert report["emg_rest_noise"].detail == "EMG capture failed: board gone"
    assert [g.name for g in report.blocking] == ["emg_rest_noise"]


def test_disk_gate_uses_the_settings_and_the_planned_steps(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path, preflight={"visit_floor_s": 0.0})  # type: ignore[arg-type]
    # the EMG stream: 4 x float32 + 16 B = 32 B per sample at 1 kHz, for 10 s: 320 kB; twice that is needed
    report = run_preflight(_inputs(tmp_path, free_bytes=639_999), settings=settings)
    disk = report["disk_space"]
    assert disk.status == "fail" and disk.measured["estimated_bytes"] == 320_000
    assert run_preflight(_inputs(tmp_path, free_bytes=640_000), settings=settings)["disk_space"].status == "pass"


def test_blocking_until_overridden_and_the_override_recorded(tmp_path: Path) -> None:
    report = run_preflight(_inputs(tmp_path, emg=(emg_segment((2.0, 30.0, 2.0, 2.0)),), free_bytes=0))
    assert [g.name for g in report.blocking] == ["disk_space", "emg_rest_noise"]
    failed_detail = report["emg_rest_noise"].detail
    res = report.override("emg_rest_noise", "TA_L electrode re-placed after the check", "tech1",
                          utc="2026-03-02T09:05:00.000000Z")
    assert res.status == "overridden" and res.detail == failed_detail  # the failure stays on the record
    assert res.override is not None and res.override.operator == "tech1"
    assert res.override.utc == "2026-03-02T09:05:00.000000Z"
    assert res.measured["rest_rms_uv"]["emg"]["TA_L"] > 5.0
    assert [g.name for g in report.blocking] == ["disk_space"] and not report.passed
    report.override("disk_space", "USB disk mounted for this visit", "tech1")
    assert report.passed
    back = PreflightReport.model_validate(report.model_dump(mode="json"))
    assert back == report and back["emg_rest_noise"].override == res.override


def test_an_override_is_refused_when_it_cannot_be_made(tmp_path: Path) -> None:
    spec = emg_spec()  # simulated
    sim = FoundDevice(source="emg", stream="emg", identity=spec.device, spec=spec)
    report = run_preflight(_inputs(tmp_path, production=True, found=(sim,), free_bytes=0))
    assert report["production_sources"].status == "fail"
    with pytest.raises(PreflightError, match="production_sources gate cannot be overridden"):
        report.override("production_sources", "trust me", "tech1")
    with pytest.raises(PreflightError, match="devices gate is pass, not failed"):
        report.override("devices", "no reason", "tech1")
    with pytest.raises(PreflightError, match="no pre-flight gate 'plate'"):
        report.override("plate", "no reason", "tech1")
    with pytest.raises(PreflightError, match="override of disk_space refused"):
        report.override("disk_space", "  ", "tech1")
    with pytest.raises(PreflightError, match="override of disk_space refused"):
        report.override("disk_space", "a good reason", "bad operator!")
    assert report["disk_space"].status == "fail"  # a refused override changes nothing


def test_settings_spell_the_kinds_and_instruments_of_the_packages_above() -> None:
    assert set(KNOWN_CALIBRATION_KINDS) == set(CALIBRATION_KINDS)
    assert set(PER_VISIT_CALIBRATION_KINDS) == set(PER_VISIT_KINDS)
    assert set(KNOWN_INSTRUMENTS) == set(get_args(Instrument)) - {"manual"}


def test_a_qc_record_cannot_take_a_name_the_compactor_computes() -> None:
    rec = QcRecord(name="preflight", value={"gates": []})
    assert decode_meta(encode_meta(rec)) == rec
    with pytest.raises(ValueError, match="/qc/journal_damage is computed by the compactor"):
        QcRecord(name="journal_damage", value={"ok": True})


def test_a_long_detail_is_one_bounded_line() -> None:
    g = GateResult(name="devices", status="fail", detail="x: not found\n" * 400)
    assert "\n" not in g.detail and len(g.detail) == 2000 and g.detail.endswith("(...)")
