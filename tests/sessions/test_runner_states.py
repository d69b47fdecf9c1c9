"""The runner's state machine: every refusal (typed, one line, nothing changed), the pre-flight gate, the audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessions.protocol import parse_protocol
from sessions.runner import Refusal, RunnerRefused, RunnerState, SignOff, VisitRunner
from sessions.session_errors import SessionError
from tests.sessions.runner_fakes import TEST_PROTOCOL, AuditLog, FakeGates, open_test_visit, rig, test_protocol

MANUAL = parse_protocol(b"""protocol_version = "1.0"
name = "manual-only"
[[steps]]
name = "a"
instrument = "manual"
title = "A"
[[steps]]
name = "b"
instrument = "manual"
title = "B"
[[steps]]
name = "c"
instrument = "manual"
title = "C"
visits = ["D0"]
""", source="manual.toml")


class Visit:
    def __init__(self, tmp_path: Path, *, gates: Any = None, protocol: Any = MANUAL, **kw: Any) -> None:
        self.audit = AuditLog()
        self.session = open_test_visit(tmp_path, protocol=protocol, visit=kw.pop("visit", "D0"))
        self.runner = VisitRunner(self.session, protocol, audit=self.audit, preflight=gates, **kw)

    def finish(self) -> None:
        if self.runner.state not in (RunnerState.sealed, RunnerState.aborted, RunnerState.failed):
            self.runner.abort("end of test")


@pytest.fixture
def visit(tmp_path: Path) -> Iterator[Visit]:
    v = Visit(tmp_path)
    yield v
    v.finish()


def refused(code: Refusal, fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(RunnerRefused) as err:
        fn(*args, **kw)
    assert err.value.code is code, f"{code} expected, got {err.value.code}: {err.value}"
    assert "\n" not in str(err.value)
    return str(err.value)


def test_the_plan_in_order_to_a_signed_off_seal(visit: Visit) -> None:
    r = visit.runner
    assert r.state is RunnerState.opened and [p.step.name for p in r.plan] == ["a", "b", "c"]
    assert r.preflight() == [] and r.state is RunnerState.ready
    for name in ("a", "b", "c"):
        r.start_step(name)
        assert r.state is RunnerState.step_running and r.current is not None and r.current.step.name == name
        assert r.end_step().passed and r.state is RunnerState.step_review
    sealed = r.close(SignOff(operator="tech2"))
    assert r.state is RunnerState.sealed and sealed.path.exists()
    assert [p.record.status for p in r.plan] == ["done"] * 3 and [p.record.chosen for p in r.plan] == [1, 1, 1]
    assert r.record.sign_off is not None and r.record.sign_off.operator == "tech2"
    assert visit.audit.actions()[-1] == "visit.signed_off" and visit.audit.entries[-1]["operator"] == "tech2"


def test_every_refusal_of_the_state_machine(visit: Visit) -> None:
    r = visit.runner
    refused(Refusal.preflight_required, r.start_step, "a")
    refused(Refusal.preflight_required, r.skip, "no time")
    refused(Refusal.no_step_running, r.end_step)
    refused(Refusal.not_in_review, r.repeat)
    r.preflight()
    refused(Refusal.out_of_order, r.preflight)
    msg = refused(Refusal.out_of_order, r.start_step, "b")
    assert msg == "step b is pending: steps run in order, the next one is a"
    refused(Refusal.unknown_step, r.start_step, "stab_eyes_open")
    refused(Refusal.not_in_review, r.accept)
    refused(Refusal.not_in_review, r.choose, 1)
    r.start_step("a")
    refused(Refusal.step_running, r.start_step, "b")  # two at once
    refused(Refusal.step_running, r.start_step, "a")
    refused(Refusal.step_running, r.skip, "why not")
    refused(Refusal.step_running, r.repeat)
    refused(Refusal.step_running, r.close, SignOff(operator="tech1"))
    r.end_step()
    refused(Refusal.unknown_attempt, r.choose, 2)
    refused(Refusal.no_step_running, r.end_step)
    r.start_step("b")  # a passed: accepted by going on
    r.end_step()
    msg = refused(Refusal.out_of_order, r.start_step, "a")  # done: never run again
    assert msg == "step a is done: steps run in order, the next one is c"
    assert r.state is RunnerState.step_review and r.plan[1].record.status == "review"  # b not accepted by it
    refused(Refusal.steps_remaining, r.close, SignOff(operator="tech1"))
    refused(Refusal.reason_required, r.skip, "  ")
    refused(Refusal.invalid_text, r.skip, "two\nlines")
    refused(Refusal.invalid_text, r.note, "")
    refused(Refusal.unknown_step, r.note, "hello", step="zz")
    msg = refused(Refusal.out_of_order, r.skip, "patient tired", step="c")
    assert msg == "the step in review is b, not c: only it can be skipped now"
    assert r.skip("patient tired") == "b"  # the step in review is skipped, its attempt kept
    assert r.skip("not needed") == "c"
    refused(Refusal.nothing_left, r.start_step)
    r.close(SignOff(operator="tech1"))
    for call in (lambda: r.start_step("a"), r.end_step, r.repeat, lambda: r.skip("late"), lambda: r.note("late"),
                 lambda: r.abort("late"), lambda: r.close(SignOff(operator="tech1")), r.preflight):
        refused(Refusal.visit_over, call)
    b = r.plan[1].record
    assert b.status == "skipped" and b.skip_reason == "patient tired" and [a.outcome for a in b.attempts] == ["skipped"]


def test_a_refusal_changes_nothing(visit: Visit) -> None:
    r = visit.runner
    r.preflight()
    r.start_step("a")
    before, entries = r.record.model_dump(), len(visit.audit.entries)
    for call in (lambda: r.start_step("b"), lambda: r.skip("x"), r.accept, lambda: r.note("\x07")):
        with pytest.raises(RunnerRefused):
            call()
    assert r.record.model_dump() == before and len(visit.audit.entries) == entries
    assert r.state is RunnerState.step_running


def test_a_failed_gate_blocks_until_overridden(tmp_path: Path) -> None:
    gates = FakeGates(failing=["plate_unloaded", "production_sources"], not_overridable=["production_sources"])
    v = Visit(tmp_path, gates=gates)
    try:
        r = v.runner
        assert r.preflight() == ["plate_unloaded", "production_sources"] and r.state is RunnerState.preflight
        msg = refused(Refusal.preflight_blocked, r.start_step, "a")
        assert "plate_unloaded: plate_unloaded failed (fake)" in msg
        refused(Refusal.reason_required, r.override, "plate_unloaded", "")
        refused(Refusal.override_refused, r.override, "devices", "not failing")
        refused(Refusal.override_refused, r.override, "production_sources", "trust me")
        assert r.override("plate_unloaded", "cat sat on the plate, removed", operator="chief") == \
            ["production_sources"]
        assert r.state is RunnerState.preflight
        gates.failing.discard("production_sources")  # the simulated device was replaced: run the gates again
        # a run judges afresh: the override lifted the earlier measurement, not this one
        assert r.preflight() == ["plate_unloaded"] and gates.runs == 2
        assert r.override("plate_unloaded", "plate checked again, empty") == [] and r.state is RunnerState.ready
        assert len(gates.seen[-1].sources) == 0 and gates.seen[-1].steps[0].name == "a"
        entry = next(e for e in v.audit.entries if e["action"] == "gate.overridden")
        assert entry["operator"] == "chief" and entry["payload"]["reason"] == "cat sat on the plate, removed"
        assert r.record.preflight == "passed"
    finally:
        v.finish()


def test_the_session_must_carry_the_protocol(tmp_path: Path) -> None:
    session = open_test_visit(tmp_path, protocol=MANUAL)
    try:
        with pytest.raises(RunnerRefused) as err:
            VisitRunner(session, test_protocol(), audit=AuditLog())
        assert err.value.code is Refusal.protocol_mismatch and "manual-only 1.0 (manual.toml" in str(err.value)
        with pytest.raises(ValueError, match="unknown instrument"):
            VisitRunner(session, MANUAL, audit=AuditLog(), sources={"emg": []})
    finally:
        session.close()


def test_production_refuses_a_runner_without_gates(tmp_path: Path) -> None:
    session = open_test_visit(tmp_path, protocol=MANUAL)
    try:
        session.settings = session.settings.model_copy(update={"production": True})
        with pytest.raises(SessionError, match="production mode runs the pre-flight gates"):
            VisitRunner(session, MANUAL, audit=AuditLog())
    finally:
        session.close()


def test_an_action_that_cannot_be_audited_is_not_done_but_an_abort_still_seals(visit: Visit) -> None:
    r = visit.runner
    r.preflight()
    visit.audit.fail_on = {"step.started"}
    with pytest.raises(OSError, match="No space left"):
        r.start_step("a")
    assert r.state is RunnerState.ready and r.plan[0].record.attempts == []
    visit.audit.fail_on = {"visit.aborted"}
    with pytest.raises(OSError):
        r.abort("fire alarm")
    assert r.state is RunnerState.aborted and r.sealed is not None and r.sealed.path.exists()
    assert r.record.abort is not None and r.record.abort.reason == "fire alarm"


def test_every_action_is_audited_and_no_note_text(visit: Visit) -> None:
    r = visit.runner
    r.preflight()
    r.start_step("a")
    r.note("Patient arrived 10 min late")
    r.end_step()
    r.repeat()
    r.end_step()
    r.choose(1)
    r.accept()
    r.skip("not today")
    r.start_step("c")
    r.end_step()
    r.close(SignOff(operator="tech1"))
    acts = visit.audit.actions()
    assert acts == ["preflight.started", "preflight.judged", "step.started", "note.added", "step.ended",
                    "step.judged", "step.repeated", "step.started", "step.ended", "step.judged", "step.chosen",
                    "step.accepted", "step.skipped", "step.started", "step.ended", "step.judged", "step.accepted",
                    "visit.signed_off"]
    judged = [e["payload"] for e in visit.audit.entries if e["action"] == "step.judged"]
    assert judged[0] == {"step": "a", "attempt": 1, "passed": True, "failed_checks": []}
    note = next(e for e in visit.audit.entries if e["action"] == "note.added")
    assert "late" not in str(note) and len(note["payload"]["text_sha256"]) == 64
    a = r.plan[0].record
    assert [(x.attempt, x.outcome) for x in a.attempts] == [(1, "accepted"), (2, "not_chosen")] and a.chosen == 1


def test_w4_plans_no_step_of_d0_only(tmp_path: Path) -> None:
    v = Visit(tmp_path, visit="W4")
    try:
        assert [p.step.name for p in v.runner.plan] == ["a", "b"]
    finally:
        v.finish()
    p = parse_protocol(TEST_PROTOCOL.encode(), source="t.toml")
    assert "stab_eyes_open" not in [s.name for s in p.protocol.for_visit("W4")]  # type: ignore[arg-type]
    sources, _ = rig()
    assert set(sources) == {"emg_jaw", "scanner", "stabilometry"}
