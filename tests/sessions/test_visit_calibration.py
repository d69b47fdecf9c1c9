"""A calibration taken during the visit (the jaw reference, per visit): `SessionManager.record_calibration` puts it
in the sealed file's /calibration beside the records in force at open, on the timeline as `calibration.recorded`,
and the journal ledger counts it: lost in one copy it is repaired, lost in both the QC says so."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import h5py
import pytest

from acquisition.events import CALIBRATION_RECORDED, Event
from acquisition.journal import Journal, encode_event
from acquisition.journal.records import journal_calibration, journal_visit
from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.reader import VisitFile
from acquisition.visitfile.verify import verify_file
from calibration.records import CalibrationRecord, new_record
from sessions.session_errors import SessionError
from tests.acquisition.journal_builder import LAST_EVENT, STARTED, T0, attrs, flip, record_offsets
from tests.sessions.helpers import open_session, ramp_source

IN_FORCE = {"id": "plate-tare:P-1:2026-01-05T08:00:00.000000Z", "kind": "plate-tare", "device_serial": "P-1",
            "values": {"offsets_kg": [0.1, 0.2, 0.3, 0.4]}}


def jaw_record(passed: bool = True) -> CalibrationRecord:
    return new_record(kind="jaw-reference", device_serial="P6-00417", device_model="NDI Aurora", performed_by="tech1",
                      valid_for=dt.timedelta(hours=12),
                      values={"incisal_offset_mm": [0.0, 15.0, 25.0], "icp_mm": [0.0, -70.0, 85.0]},
                      residuals={"icp_spread_mm": 0.08 if passed else 3.1},
                      reasons=[] if passed else ["ICP capture: the incisal point moved 3.10 mm RMS"],
                      procedure_version="jaw-reference-1", simulated=True)


def test_a_calibration_recorded_mid_visit_is_in_the_sealed_file(tmp_path: Path) -> None:
    s = open_session(tmp_path / "data")
    s.add_source(ramp_source())
    first, retake = jaw_record(passed=False), jaw_record()
    s.start_step("jaw_reference")
    s.record_calibration(first)
    s.record_calibration(retake.model_copy(update={"id": retake.id + "-2", "supersedes": first.id}))
    with pytest.raises(SessionError, match="is already in visit"):
        s.record_calibration(first)
    sealed = s.close()
    assert verify_file(sealed.path).ok
    with VisitFile.open(sealed.path) as vf:
        cal = {r.id: r for r in vf.calibration}
        events = [e for e in vf.events() if e.name == CALIBRATION_RECORDED]
    assert set(cal) == {first.id, retake.id + "-2"}
    stored = cal[retake.id + "-2"].model_dump()
    assert stored["values"] == {"incisal_offset_mm": [0.0, 15.0, 25.0], "icp_mm": [0.0, -70.0, 85.0]}
    assert stored["passed"] is True and stored["supersedes"] == first.id and stored["kind"] == "jaw-reference"
    assert cal[first.id].model_dump()["passed"] is False  # a failed attempt is on the record too
    assert [(e.payload["batch"], e.payload["ids"], e.payload["passed"], e.step) for e in events] == [
        (1, [first.id], False, "jaw_reference"), (2, [retake.id + "-2"], True, "jaw_reference")]
    with h5py.File(sealed.path, "r") as f:
        assert json.loads(f["qc"].attrs["journal_damage"])["ok"] is True


def test_it_is_kept_beside_the_records_in_force_at_open(tmp_path: Path) -> None:
    s = open_session(tmp_path / "data")
    s.record_calibration(jaw_record())
    sealed = s.close()
    with VisitFile.open(sealed.path) as vf:
        assert sorted(r.kind for r in vf.calibration) == ["jaw-reference"]


def _journal(jdir: Path, rec: CalibrationRecord) -> None:
    """A crashed visit's journal: one record in force at open, one recorded during the visit (batch 1)."""
    with Journal(jdir) as j:
        journal_visit(j, attrs(), [IN_FORCE])
        journal_calibration(j, [rec.model_dump(mode="json")], batch=1)
        ev = j.log("events")
        ev.append(encode_event(Event(t_lsl=T0, utc=STARTED, kind="visit_open", name="visit.opened")))
        ev.append(encode_event(Event(t_lsl=T0 + 1, utc=LAST_EVENT, kind="qc", name=CALIBRATION_RECORDED,
                                     payload={"batch": 1, "ids": [rec.id], "kind": rec.kind, "passed": True})))


def _rebuild(tmp_path: Path) -> tuple[Path, dict]:
    comp = Compactor(tmp_path / "journal", tmp_path / "v.h5.partial")
    comp.run_once(final=True)
    comp.finish({"closed_utc": LAST_EVENT, "state": "recovered"})
    return tmp_path / "v.h5.partial", comp.qc_summary()["journal_damage"]


def test_the_ledger_repairs_a_mid_visit_record_lost_in_meta(tmp_path: Path) -> None:
    rec = jaw_record()
    _journal(tmp_path / "journal", rec)
    assert len(record_offsets(tmp_path / "journal" / "meta")) == 3  # visit, calibration at open, batch 1
    flip(tmp_path / "journal" / "meta", 2)
    partial, dmg = _rebuild(tmp_path)
    with h5py.File(partial, "r") as f:
        assert sorted(f["calibration"].attrs) == sorted([IN_FORCE["id"], rec.id])
    assert dmg["ok"] is False
    assert dmg["repaired"] == ["calibration 1 (taken during the visit): lost in meta, taken from its copy in meta-copy"]
    assert [x for x in dmg["lost_records"] if "calibration" in x] == [] and dmg["bytes_skipped"]["meta"] > 0


def test_the_ledger_reports_a_mid_visit_record_lost_in_both_copies(tmp_path: Path) -> None:
    rec = jaw_record()
    _journal(tmp_path / "journal", rec)
    flip(tmp_path / "journal" / "meta", 2)
    flip(tmp_path / "journal" / "meta-copy", 2)
    partial, dmg = _rebuild(tmp_path)
    with h5py.File(partial, "r") as f:
        assert sorted(f["calibration"].attrs) == [IN_FORCE["id"]]  # the one at open is intact
    assert dmg["ok"] is False
    assert "calibration 1 (taken during the visit): 1 record(s), lost in meta and in meta-copy (/calibration is " \
           "incomplete)" in dmg["lost_records"]


def test_batch_zero_is_the_visit_records_own() -> None:
    with pytest.raises(ValueError, match="batch 0 is the calibration in force at open"):
        journal_calibration(None, [], batch=0)  # type: ignore[arg-type]


def test_a_retake_in_the_visit_supersedes_the_previous_attempt(tmp_path: Path) -> None:
    """The visit runner records each attempt as it is made (supersedes unset): the visit links them, per kind
    and device, as the store links its own."""
    s = open_session(tmp_path / "data")
    first = jaw_record(passed=False)
    retake = jaw_record().model_copy(update={"id": first.id + "-retake"})
    other = jaw_record().model_copy(update={"id": "jaw-reference:P6-99999:x", "device_serial": "P6-99999"})
    emg = new_record(kind="emg-noise", device_serial="SIM-BIT-A+SIM-BIT-B", performed_by="tech1",
                     valid_for=dt.timedelta(hours=12), values={"rest_rms_uv": {"TA_R": 1.8}}, simulated=True)
    for rec in (first, emg, retake, other):
        s.record_calibration(rec)
    third = jaw_record().model_copy(update={"id": first.id + "-third", "supersedes": first.id})
    with pytest.raises(SessionError, match=f"supersedes {first.id!r}, but the previous jaw-reference record of "
                                           f"'P6-00417' in visit ABC-001_D0 is {retake.id!r}"):
        s.record_calibration(third)
    sealed = s.close()
    with VisitFile.open(sealed.path) as vf:
        links = {r.id: r.model_dump()["supersedes"] for r in vf.calibration}
    assert links == {first.id: None, emg.id: None, retake.id: first.id, other.id: None}


def test_a_real_visit_never_gets_a_simulated_record(tmp_path: Path) -> None:
    from calibration.store import CalibrationStore
    from sessions.visit_calibration import for_visit, records_in_force

    store = CalibrationStore(tmp_path)
    real, _ = store.append(new_record(kind="plate-tare", device_serial="CB-1", performed_by="tech1",
                                      valid_for=dt.timedelta(days=1), values={"offset_kg": {"TR": 0.1}}))
    sim, _ = store.append(new_record(kind="plate-tare", device_serial="SIM-CB4-000123", performed_by="demo",
                                     valid_for=dt.timedelta(days=1), values={"offset_kg": {"TR": 0.0}},
                                     simulated=True))
    assert [r["id"] for r in records_in_force(tmp_path, simulated=False)] == [real.id]
    everything = records_in_force(tmp_path, simulated=True)
    assert [r["id"] for r in everything] == [real.id, sim.id]
    # `record --lsl` learns from the streams whether the visit is simulated after reading the store
    assert [r["id"] for r in for_visit(everything, simulated=False)] == [real.id]
