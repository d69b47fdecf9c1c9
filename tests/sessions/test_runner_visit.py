"""Visits run end to end on fake instruments with known signals: what the technician sees at each step's end,
and what the sealed file keeps (attempts, chosen one, skip, notes, QC verdicts, sign-off, abort, protocol hash)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from acquisition.visitfile.reader import VisitFile
from sessions.runner import PROTOCOL_RUN_QC, Refusal, RunnerRefused, RunnerState, RunRecord, SignOff, VisitRunner
from tests.sessions.runner_fakes import (AuditLog, FakeGates, PlateLoad, emg_flat_channel, open_test_visit, rig,
                                         test_protocol)

STEP_S = 0.4


def make(tmp_path: Path, *, visit: str = "D0", gates: Any = None, **rig_kw: Any) -> tuple[VisitRunner, dict[str, Any]]:
    sources, parts = rig(**rig_kw)
    session = open_test_visit(tmp_path, visit=visit)
    runner = VisitRunner(session, test_protocol(), audit=AuditLog(), sources=sources, preflight=gates)
    return runner, parts


def device_step(r: VisitRunner, name: str | None = None, *, during: Any = None) -> Any:
    item = r.start_step(name) if name else r.repeat()
    time.sleep(STEP_S / 2)
    if during is not None:
        during()
    time.sleep(STEP_S / 2)
    assert item.step.name == (name or item.step.name)
    return r.end_step()


def checks(verdict: Any, status: str) -> set[tuple[str, str]]:
    return {(c.check, c.stream) for c in verdict.checks if c.status == status}


def run_record(path: Path) -> RunRecord:
    with VisitFile.open(path, verify="quick") as vf:
        return RunRecord.model_validate(vf.qc[PROTOCOL_RUN_QC])


def test_d0_with_a_repeat_a_skip_a_note_and_the_sign_off_in_the_file(tmp_path: Path) -> None:
    r, parts = make(tmp_path)
    try:
        assert r.preflight() == []
        assert parts["emg_jaw"].opened and r.state is RunnerState.ready
        r.start_step("questionnaires")
        r.end_step()
        r.start_step("scan_rest")
        parts["scanner"].take("rest")
        time.sleep(0.3)
        parts["scanner"].take("rest")
        v = r.end_step()
        assert v.passed and checks(v, "pass") >= {("scans", ""), ("device_events", "")}
        v1 = device_step(r, "emg_rest")
        assert v1.passed, v1.failures
        assert checks(v1, "pass") >= {("samples", "emg_a"), ("signal", "emg_a"), ("saturation", "emg_a"),
                                      ("samples", "jaw_incisal"), ("signal", "jaw_incisal")}
        assert ("saturation", "jaw_incisal") in checks(v1, "not_judged")  # no ADC limits for a float stream
        v2 = device_step(r)  # repeat: a second attempt, the first kept
        assert v2.passed
        r.start_step("jaw_max_opening")
        note = r.note("Patient asks for a break after this step")
        assert note.attempt == 1
        time.sleep(STEP_S)
        v3 = r.end_step()
        assert v3.passed and ("jaw_opening", "jaw_incisal") in checks(v3, "pass")
        r.accept()  # in review, skip() would skip this step; accept it, then skip the next one
        assert r.skip("patient dizzy, cannot stand") == "stab_eyes_open"
        r.note("Visit ended early on the plate")  # on the visit, no step in force
        sealed = r.close(SignOff(operator="tech2"))
    finally:
        if r.state not in (RunnerState.sealed, RunnerState.aborted):
            r.abort("test failed")

    run = run_record(sealed.path)
    steps = {s.name: s for s in run.steps}
    assert run.outcome == "completed" and run.sign_off is not None and run.sign_off.operator == "tech2"
    assert list(steps) == ["questionnaires", "scan_rest", "emg_rest", "jaw_max_opening", "stab_eyes_open"]
    emg = steps["emg_rest"]
    assert [(a.attempt, a.outcome) for a in emg.attempts] == [(1, "repeated"), (2, "accepted")] and emg.chosen == 2
    assert all(a.verdict is not None and a.verdict.passed and a.t_end is not None for a in emg.attempts)
    assert steps["stab_eyes_open"].status == "skipped" and steps["stab_eyes_open"].skip_reason.startswith("patient")
    assert steps["stab_eyes_open"].attempts == [] and steps["stab_eyes_open"].chosen is None
    assert [n.text for n in steps["jaw_max_opening"].notes] == ["Patient asks for a break after this step"]
    assert [n.text for n in run.notes] == ["Visit ended early on the plate"]

    with VisitFile.open(sealed.path, verify="quick") as vf:
        stamp = vf.identity.protocol
        assert stamp is not None and stamp.sha256 == test_protocol().sha256 and stamp.source == "runner-test.toml"
        assert hashlib.sha256(vf.attrs["protocol_toml"].encode()).hexdigest() == stamp.sha256
        reps = [(s, rep) for s, rep, _, _ in vf.step_intervals()]
        assert ("emg_rest", 1) in reps and ("emg_rest", 2) in reps and reps[0] == ("preflight", 1)
        assert [e.step for e in vf.events(name="source.started")] == ["preflight"] * 3  # emg+jaw, scanner, plate
        names = [e.name for e in vf.events(kind="operator")]
        assert names == ["step.accepted", "step.accepted", "step.repeated", "step.accepted", "note.added",
                         "step.accepted", "step.skipped", "note.added", "visit.signed_off"]
        qc = vf.events(name="step.qc")
        assert [(e.step, e.payload["attempt"], e.payload["passed"]) for e in qc] == [
            ("questionnaires", 1, True), ("scan_rest", 1, True), ("emg_rest", 1, True), ("emg_rest", 2, True),
            ("jaw_max_opening", 1, True)]
        # the trial is quadruple-masked: nothing anywhere names an arm or an allocation
        text = json.dumps({"attrs": vf.attrs, "qc": vf.qc, "events": [e.model_dump() for e in vf.events()]})
        assert not re.search(r"\barms?\b|randomi[sz]|allocation", text, flags=re.IGNORECASE)


def test_a_flat_stream_fails_its_step_which_offers_repeat_accept_or_skip(tmp_path: Path) -> None:
    r, _ = make(tmp_path, emg=emg_flat_channel, with_plate=False)
    try:
        r.preflight()
        r.skip("no scan today")
        r.skip("scanner off")
        v = device_step(r, "emg_rest")
        assert not v.passed and checks(v, "fail") == {("signal", "emg_a")}
        assert v.failures == ["emg_a: no signal on MM_L (peak-to-peak 0 adc_code over "
                              f"{next(c for c in v.checks if c.check == 'samples' and c.stream == 'emg_a').detail.split()[0]}"
                              " samples)"]
        with pytest.raises(RunnerRefused) as err:
            r.start_step("jaw_max_opening")
        assert err.value.code is Refusal.decision_required and "repeat it, accept it with a reason, or skip" in \
            str(err.value)
        with pytest.raises(RunnerRefused) as err:
            r.close(SignOff(operator="tech1"))
        assert err.value.code is Refusal.decision_required
        with pytest.raises(RunnerRefused) as err:
            r.accept()
        assert err.value.code is Refusal.reason_required
        v2 = device_step(r)  # repeat: still flat
        assert not v2.passed
        r.choose(1)
        item = r.accept("MM_L electrode re-glued twice, signal judged absent; kept for the record")
        assert item.record.status == "done" and item.record.chosen == 1
        assert [a.outcome for a in item.record.attempts] == ["accepted", "not_chosen"]
        v3 = device_step(r, "jaw_max_opening")  # the same instrument: MM_L is still flat there
        assert checks(v3, "fail") == {("signal", "emg_a")} and ("jaw_opening", "jaw_incisal") in checks(v3, "pass")
        r.accept("MM_L electrode known off (see emg_rest)")
        r.skip("plate not installed")
        sealed = r.close(SignOff(operator="tech1"))
    finally:
        if r.state not in (RunnerState.sealed, RunnerState.aborted):
            r.abort("test failed")
    emg = {s.name: s for s in run_record(sealed.path).steps}["emg_rest"]
    assert emg.accept_reason.startswith("MM_L electrode") and emg.attempts[0].verdict is not None
    assert not emg.attempts[0].verdict.passed and emg.attempts[0].verdict.failures[0].startswith("emg_a: no signal")


def test_jaw_opening_not_seen_and_plate_left_fail_their_step(tmp_path: Path) -> None:
    load = PlateLoad(70.0)
    r, _ = make(tmp_path, jaw_amplitude_mm=3.0, plate=load)
    try:
        r.preflight()
        r.skip("no scan")
        r.skip("no scan")
        device_step(r, "emg_rest")
        v = device_step(r, "jaw_max_opening")
        assert checks(v, "fail") == {("jaw_opening", "jaw_incisal")}
        r.skip("patient cannot open today")

        def step_off() -> None:
            load.kg = 0.0

        v = device_step(r, "stab_eyes_open", during=step_off)
        assert checks(v, "fail") == {("plate_loaded", "plate_raw")}
        load.kg = 70.0
        v = device_step(r)  # repeated, the patient stays on
        assert v.passed, v.failures
        r.close(SignOff(operator="tech1"))
    finally:
        if r.state not in (RunnerState.sealed, RunnerState.aborted):
            r.abort("test failed")


def test_a_device_unplugged_during_a_step_is_in_that_steps_qc_and_the_visit_goes_on(tmp_path: Path) -> None:
    r, parts = make(tmp_path, with_plate=False)
    try:
        r.preflight()
        r.skip("no scan")
        r.skip("no scan")
        v = device_step(r, "emg_rest", during=parts["emg_jaw"].unplug)
        failed = checks(v, "fail")
        assert {("samples", "emg_a"), ("samples", "jaw_incisal"), ("device_events", "")} <= failed
        events = next(c for c in v.checks if c.check == "device_events")
        assert "link.disconnected (emg_a,jaw_incisal) x1" in events.detail
        assert not v.settled
        assert r.state is RunnerState.step_review  # the visit goes on: the technician decides
        parts["emg_jaw"].replug()
        v2 = device_step(r)
        assert v2.passed, v2.failures
        assert device_step(r, "jaw_max_opening").passed
        r.accept()
        r.skip("no plate at this site")
        sealed = r.close(SignOff(operator="tech1"))
    finally:
        if r.state not in (RunnerState.sealed, RunnerState.aborted):
            r.abort("test failed")
    emg = {s.name: s for s in run_record(sealed.path).steps}["emg_rest"]
    assert [a.verdict.passed for a in emg.attempts if a.verdict] == [False, True] and emg.chosen == 2


def test_abort_mid_step_seals_with_the_reason_and_keeps_the_attempt(tmp_path: Path) -> None:
    r, parts = make(tmp_path, with_plate=False)
    r.preflight()
    r.skip("no scan")
    r.skip("no scan")
    r.start_step("emg_rest")
    time.sleep(STEP_S)
    sealed = r.abort("patient unwell")
    assert r.state is RunnerState.aborted and sealed.path.exists() and parts["emg_jaw"].closed
    run = run_record(sealed.path)
    assert run.outcome == "aborted" and run.abort is not None and run.abort.reason == "patient unwell"
    assert run.abort.step == "emg_rest" and run.sign_off is None
    emg = {s.name: s for s in run.steps}["emg_rest"]
    assert emg.status == "aborted" and emg.attempts[0].outcome == "aborted" and emg.attempts[0].verdict is not None
    with VisitFile.open(sealed.path) as vf:
        assert [e.payload["reason"] for e in vf.events(name="visit.aborted")] == ["patient unwell"]
        assert vf.streams["emg_a"].n_samples > 0


def test_abort_while_blocked_in_preflight_closes_the_opened_sources(tmp_path: Path) -> None:
    r, parts = make(tmp_path, gates=FakeGates(failing=["devices"]))
    assert r.preflight() == ["devices"]
    sealed = r.abort("plate missing, visit rescheduled")
    assert parts["emg_jaw"].closed and parts["plate"].closed
    run = run_record(sealed.path)
    assert run.preflight == "blocked" and run.outcome == "aborted" and all(s.status == "pending" for s in run.steps)


def test_a_missing_capture_fails_the_scan_step(tmp_path: Path) -> None:
    r, parts = make(tmp_path, with_plate=False)
    try:
        r.preflight()
        r.start_step("questionnaires")
        r.end_step()
        r.start_step("scan_rest")
        parts["scanner"].take("rest")
        v = r.end_step()
        assert checks(v, "fail") == {("scans", "")}
        assert next(c for c in v.checks if c.check == "scans").detail == "1 of 2 expected capture(s) ingested"
    finally:
        r.abort("end of test")


def test_w4_visit_has_no_stabilometry_step(tmp_path: Path) -> None:
    r, parts = make(tmp_path, visit="W4")  # the rig has a plate; no step of a W4 visit uses it
    try:
        assert [p.step.name for p in r.plan] == ["questionnaires", "scan_rest", "emg_rest", "jaw_max_opening"]
        r.preflight()
        for name in ("questionnaires", "scan_rest"):
            r.start_step(name)
            r.end_step()
            if r.current is not None and not r.current.record.attempts[-1].verdict.passed:  # type: ignore[union-attr]
                r.skip("no capture in this test")
        device_step(r, "emg_rest")
        device_step(r, "jaw_max_opening")
        sealed = r.close(SignOff(operator="tech1"))
    finally:
        if r.state not in (RunnerState.sealed, RunnerState.aborted):
            r.abort("test failed")
    run = run_record(sealed.path)
    assert run.visit == "W4" and "stab_eyes_open" not in [s.name for s in run.steps]
    assert not parts["plate"].opened
    with VisitFile.open(sealed.path) as vf:
        assert "plate_raw" not in vf.streams and {"emg_a", "jaw_incisal"} <= set(vf.streams)
