"""`visit run` on the simulated rig, the technician's decisions: a failed gate blocking until overridden, an
out-of-order step refused, a repeat, a skip and a note kept in the file; a device unplugged during a step reported
in that step's QC while the visit goes on; the CLI's window refusal, then the same visit with --override."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessions.audit import verify_path
from sessions.cli import main as cli_main
from sessions.protocol import ProtocolStep
from sessions.runner import Refusal, RunnerRefused, RunnerState
from sessions.simulated_rig import SimulatedRig
from sessions.subject import VisitIdentity
from sessions.visit_auto import AUTO_ACCEPT_REASON, AutoOperator
from sessions.visit_run import VisitRun, check_window, run_visit
from tests.sessions.visit_run_helpers import SMALL, SPEED, run_record, settings, small_protocol

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def rig() -> Iterator[SimulatedRig]:
    with SimulatedRig(seed=11) as r:
        yield r


class Technician:
    """A scripted technician: what `visit run` at the terminal lets one do, in a fixed order."""

    def __init__(self, rig: SimulatedRig) -> None:
        self.rig = rig
        self.seen: dict[str, Any] = {}

    def preflight(self, run: VisitRun) -> None:
        self.rig.place_load(None)  # the subject is already on the plate: the zero check fails
        blocking = run.runner.preflight()
        self.seen["blocking"] = blocking
        with pytest.raises(RunnerRefused) as err:
            run.runner.start_step("questionnaires")
        self.seen["refused"] = err.value.code
        for gate in blocking:
            run.runner.override(gate, f"test: {gate} known, taken responsibility for")
        assert run.runner.state is RunnerState.ready

    def step(self, run: VisitRun, step: ProtocolStep) -> None:
        r = run.runner
        if step.name == "questionnaires":
            with pytest.raises(RunnerRefused) as err:
                r.start_step("emg_rest")
            self.seen["out_of_order"] = err.value.code
            r.start_step(step.name)
            assert r.end_step().passed
            r.note("questionnaires filled in on paper, typed in later")
            r.accept()
        elif step.name == "emg_rest":
            self.rig.set_step(step.name, 0.6)
            r.start_step(step.name, duration_s=0.6)
            time.sleep(0.6)
            v1 = r.end_step()
            r.repeat()
            time.sleep(0.6)
            v2 = r.end_step()
            assert v1.passed and v2.passed, (v1.failures, v2.failures)
            r.accept("")
        elif step.name == "jaw_protrusion":
            r.skip("patient reports jaw pain", step=step.name)
        else:
            r.skip("patient cannot stand today", step=step.name)


def test_a_blocked_gate_a_refusal_a_repeat_a_skip_and_a_note(tmp_path: Path, rig: SimulatedRig) -> None:
    s = settings(tmp_path)
    ident = VisitIdentity.checked(subject="SIM-002", visit="D0", operator="tech1", site=s.site)
    tech = Technician(rig)
    sealed = run_visit(s, ident, rig=rig.rig_sources(), protocol=small_protocol(), operator=tech,
                       decision=check_window(s, ident), say=lambda _l: None)
    assert set(tech.seen["blocking"]) == {"calibrations", "plate_unloaded"}  # no tare in this store, subject on it
    assert tech.seen["refused"] is Refusal.preflight_blocked and tech.seen["out_of_order"] is Refusal.out_of_order
    run, qc, events = run_record(sealed.path)
    steps = {x.name: x for x in run.steps}
    assert [n.text for n in steps["questionnaires"].notes] == ["questionnaires filled in on paper, typed in later"]
    assert [(a.attempt, a.outcome) for a in steps["emg_rest"].attempts] == [(1, "repeated"), (2, "accepted")]
    assert steps["emg_rest"].chosen == 2
    assert steps["jaw_protrusion"].status == "skipped" and steps["jaw_protrusion"].skip_reason == \
        "patient reports jaw pain"
    gates = {g["name"]: g for g in qc["preflight"]["gates"]}
    assert gates["plate_unloaded"]["status"] == "overridden" and gates["calibrations"]["status"] == "overridden"
    assert gates["plate_unloaded"]["override"]["operator"] == "tech1"
    names = [e.name for e in events]
    assert "preflight.overridden" in names and "step.skipped" in names and "note.added" in names
    assert verify_path(sealed.path).ok


class Unplugging:
    """The simulated rig's hands, unplugging the jaw tracker once during `jaw_protrusion`."""

    def __init__(self, rig: SimulatedRig) -> None:
        self.rig = rig

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rig, name)

    def set_step(self, step: str, duration_s: float) -> None:
        self.rig.set_step(step, duration_s)
        if step == "jaw_protrusion":
            self.rig.arm_fault("aurora", "unplug")


def test_a_device_unplugged_during_a_step_is_in_its_qc_and_the_visit_goes_on(tmp_path: Path,
                                                                             rig: SimulatedRig) -> None:
    s = settings(tmp_path)
    ident = VisitIdentity.checked(subject="SIM-003", visit="W4", operator="tech1", site=s.site)
    from sessions.visit_windows import WindowOverride

    decision = check_window(s, ident, override=WindowOverride(reason="test: no D0 here", operator="tech1"))
    assert decision.overridden
    auto = AutoOperator(speed=SPEED / 8, hands=Unplugging(rig))  # 1.5 s steps: the unplug lasts 0.5 s
    sealed = run_visit(s, ident, rig=rig.rig_sources(), protocol=small_protocol(), operator=auto, decision=decision,
                       say=lambda _l: None)
    run, _qc, events = run_record(sealed.path)
    assert run.outcome == "completed"
    steps = {x.name: x for x in run.steps}
    first = steps["jaw_protrusion"].attempts[0].verdict
    assert first is not None and not first.passed
    failed = {(c.check, c.stream) for c in first.checks if c.status == "fail"}
    assert any(stream.startswith("jaw") for _c, stream in failed), first.failures
    assert steps["emg_rest"].attempts[0].verdict.passed  # the step before was not touched
    if len(steps["jaw_protrusion"].attempts) == 2 and not steps["jaw_protrusion"].attempts[1].verdict.passed:
        assert steps["jaw_protrusion"].accept_reason == AUTO_ACCEPT_REASON
    assert any(e.name.startswith("link.") or e.kind == "device" for e in events if e.step == "jaw_protrusion")
    window = next(e for e in events if e.name == "visit.window_checked")
    assert window.payload["overridden"] is True and window.payload["override"]["reason"] == "test: no D0 here"


def test_cli_w12_out_of_window_refused_then_accepted_with_override(tmp_path: Path, rig: SimulatedRig,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("AMUSE_PREFLIGHT", json.dumps({"emg_rest_s": 1.0, "plate_capture_s": 0.5}))
    rig_file = rig.write_rig_file(tmp_path / "rig.toml")
    proto = tmp_path / "small.toml"
    proto.write_text(SMALL.replace('visits = ["D0", "W12", "W24"]', 'visits = ["D0"]'))
    data = tmp_path / "data"
    base = ["visit", "run", "--rig", str(rig_file), "--operator", "tech1", "--auto", "--speed", str(SPEED),
            "--protocol", str(proto), "--data-dir", str(data), "--create-data-dir"]
    assert cli_main([*base, "--subject", "SIM-004", "--visit", "D0",
                     "--override-gate", "plate_unloaded=test: subject on the plate early",
                     "--override-gate", "calibrations=test: no tare on this test rig"]) == 0
    out = capsys.readouterr()
    assert "sealed: " in out.out, out.err
    assert cli_main([*base, "--subject", "SIM-004", "--visit", "W12"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("amuse-acq:")]  # (+ the log's warning)
    assert len(err) == 1 and err[0].startswith("amuse-acq: refused: ") and "early" in err[0] and "--override REASON" in err[0], err
    assert not (data / "SIM-004_W12.h5").exists()
    assert cli_main([*base, "--subject", "SIM-004", "--visit", "W12",
                     "--override", "test: follow-up brought forward by the investigator"]) == 0
    out = capsys.readouterr().out
    sealed = next(Path(ln.removeprefix("sealed: ")) for ln in out.splitlines() if ln.startswith("sealed: "))
    assert sealed.name == "SIM-004_W12.h5"
    run, _qc, events = run_record(sealed)
    assert run.outcome == "completed" and [x.name for x in run.steps] == ["questionnaires", "emg_rest",
                                                                          "jaw_protrusion"]
    window = next(e for e in events if e.name == "visit.window_checked")
    assert window.payload["overridden"] is True and window.payload["verdict"]["reason"] == "out_of_window"
    report = verify_path(sealed)
    assert report.ok
    from acquisition.visitfile.reader import VisitFile

    with VisitFile.open(sealed, verify="quick") as vf:
        lines = vf.audit_lines() or []
    entries = [json.loads(ln) for ln in lines]
    overridden = [e for e in entries if e["action"] == "visit_window.overridden"]
    assert len(overridden) == 1 and overridden[0]["operator"] == "tech1"
    assert overridden[0]["payload"]["refusal"] == "out_of_window"
    assert "SIM-004" not in json.dumps([e["payload"] for e in entries])  # the chain id only names the visit


def test_the_terminal_technician_overrides_notes_repeats_and_skips(tmp_path: Path, rig: SimulatedRig) -> None:
    import io

    from rich.console import Console

    from sessions.visit_prompt import PromptOperator

    answers = "\n".join([
        "o", "", "test: calibration done elsewhere", "o", "", "test: subject stepped on early",  # two gates
        "", "n", "paper questionnaires", "a",  # questionnaires: end, note, accept
        "", "r", "", "s", "electrode fell off",  # emg_rest: end, repeat, end, skip
        "", "s", "jaw pain",  # jaw_protrusion
        "", "s", "cannot stand",  # stabilometry
    ]) + "\n"
    out = io.StringIO()
    op = PromptOperator(console=Console(file=out, width=120), stdin=io.StringIO(answers))
    s = settings(tmp_path)
    ident = VisitIdentity.checked(subject="SIM-005", visit="D0", operator="tech1", site=s.site)
    rig.place_load(None)
    sealed = run_visit(s, ident, rig=rig.rig_sources(), protocol=small_protocol(), operator=op,
                       decision=check_window(s, ident), say=lambda _l: None)
    run, qc, _events = run_record(sealed.path)
    steps = {x.name: x for x in run.steps}
    assert [n.text for n in steps["questionnaires"].notes] == ["paper questionnaires"]
    assert len(steps["emg_rest"].attempts) == 2 and steps["emg_rest"].skip_reason == "electrode fell off"
    assert [steps[n].status for n in ("jaw_protrusion", "stab_eyes_open")] == ["skipped", "skipped"]
    overrides = {g["name"]: g["override"]["reason"] for g in qc["preflight"]["gates"] if g["status"] == "overridden"}
    assert overrides == {"calibrations": "test: calibration done elsewhere",
                         "plate_unloaded": "test: subject stepped on early"}
    shown = out.getvalue()
    assert "pre-flight" in shown and ("QC passed" in shown or "QC FAILED" in shown)
