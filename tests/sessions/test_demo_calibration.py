"""The demo calibrates its simulated rig with the real procedures when nothing is in force, says so, and copies
the records in force into the visit's /calibration (no placeholder records any more)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from acquisition.config import AcqSettings
from acquisition.visitfile.reader import VisitFile
from calibration.records import CALIBRATION_KINDS, PER_VISIT_KINDS, new_record
from calibration.store import CalibrationStore
from sessions.demo import DemoStop, demo_calibration, run_demo


def test_demo_runs_the_plate_procedures_and_the_visit_holds_their_records(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path, compaction_interval_s=0.5)
    store = CalibrationStore(tmp_path)
    others = [store.append(_simulated_record("scanner-scale"))[0]]  # not this test's business
    lines: list[str] = []
    stop = DemoStop()

    def progress(line: str) -> None:  # the visit is open with its calibration: the rest is not this test's
        lines.append(line)
        if line.startswith("  device ok: scanner"):
            stop.request("test")

    sealed = run_demo(settings, visit="W4", operator="tech9", speed=10.0, progress=progress, stop=stop)
    assert sealed is not None
    in_force = {r.id: r for r in store.in_force()}
    with VisitFile.open(sealed.path) as v:
        copied = {r.id: r for r in v.calibration}
    assert copied.keys() == in_force.keys() and {r.id for r in others} < copied.keys()
    by_kind = {r.kind: r for r in in_force.values()}
    for kind in ("plate-tare", "plate-mass"):
        rec = by_kind[kind]
        assert rec.device_serial == "SIM-CB4-000123" and rec.simulated and rec.passed
        assert rec.performed_by == "tech9"
        assert rec.expires - rec.performed <= dt.timedelta(days=30)  # real validity, not 2099
        assert copied[rec.id].values == rec.values
        assert any(ln.startswith(f"demo: no {kind} record in force; ran it on the simulated rig: {kind} passed")
                   for ln in lines), lines
        # the technician watching the demo sees the procedure's steps, not 10 s of silence
        start = lines.index(f"demo: no {kind} record in force: running it on the simulated rig")
        steps = lines[start + 1: start + 3]
        assert [ln.startswith("  ") for ln in steps] == [True, True], lines
    assert any(ln.startswith("  simulated: Place the 20 kg mass at the front-right") for ln in lines)
    # emg-noise is the subject's own, taken in the visit: the demo never runs it, nor stores it
    assert not [ln for ln in lines if "emg-noise" in ln], lines
    assert {r.kind for r in store.records()} == {"plate-tare", "plate-mass", "scanner-scale"}
    tare = by_kind["plate-tare"].values["offset_kg"]
    assert all(abs(v) < 0.01 for v in tare.values())  # the rig's plate is well calibrated
    assert by_kind["plate-mass"].residuals["max_cop_error_mm"] < 0.5
    assert any(ln.startswith("demo: ") and "calibration record(s) in force copied into the visit" in ln
               for ln in lines)


def _simulated_record(kind: str):  # noqa: ANN202
    return new_record(kind=kind, device_serial="SIM-X", performed_by="demo", values={"v": 1},  # type: ignore[arg-type]
                      valid_for=dt.timedelta(days=1), simulated=True)


class NoRig:
    """Any use of the rig would be a procedure run: there must be none."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the demo used the rig ({name}) although every record is in force")


def test_records_in_force_are_not_redone(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    for kind in ("plate-tare", "plate-mass", "scanner-scale"):  # every kind the store takes
        store.append(_simulated_record(kind))
    lines: list[str] = []
    records = demo_calibration(AcqSettings(data_dir=tmp_path), NoRig(), operator="demo",  # type: ignore[arg-type]
                               progress=lines.append)
    assert lines == []
    assert sorted(r["id"] for r in records) == sorted(r.id for r in store.in_force())
    assert len(store.records()) == 3
    assert set(CALIBRATION_KINDS) - PER_VISIT_KINDS == {"plate-tare", "plate-mass", "scanner-scale"}
