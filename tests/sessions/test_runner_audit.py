"""The runner on the real audit trail (`sessions.audit`): every payload passes its rules (no patient data), the
visit chain is closed before the seal and verifies in the sealed file."""

from __future__ import annotations

import time
from pathlib import Path

from sessions.audit import AuditTrail
from sessions.audit.verify import check_visit_file
from sessions.runner import RunnerState, SignOff, VisitRunner
from tests.sessions.runner_fakes import FakeGates, emg_flat_channel, open_test_visit, rig, test_protocol


def test_a_visit_audited_on_the_real_trail_verifies(tmp_path: Path) -> None:
    sources, parts = rig(emg=emg_flat_channel, with_plate=False)
    session = open_test_visit(tmp_path)
    trail = AuditTrail.for_visit(session)
    r = VisitRunner(session, test_protocol(), audit=trail, sources=sources,
                    preflight=FakeGates(failing=["disk_space"], not_overridable=["production_sources"]))
    try:
        assert r.preflight() == ["disk_space"]
        r.override("disk_space", "archive disk mounted after the check")
        r.start_step("questionnaires")
        r.note("Patient asked about the next visit date, 12/03")
        r.end_step()
        r.accept()
        r.skip("scanner being serviced", step="scan_rest")
        r.start_step("emg_rest")
        time.sleep(0.4)
        v = r.end_step()
        assert not v.passed  # a flat channel: its failed checks go into the audit by name
        r.accept("MM_L electrode off, patient declined a new one")
        r.start_step("jaw_max_opening")
        time.sleep(0.4)
        r.end_step()
        r.skip("flat MM_L again", step="jaw_max_opening")
        r.skip("no plate in this room", step="stab_eyes_open")
        sealed = r.close(SignOff(operator="tech2"))
    finally:
        if r.state is not RunnerState.sealed:
            r.abort("test failed")
    report = check_visit_file(sealed.path)
    assert report.ok, [p.detail for p in report.problems]
    actions = [e.action for e in report.entries]
    assert actions[0] == "audit.genesis" and actions[-2:] == ["visit.signed_off", "audit.closed"]
    assert {"gate.overridden", "note.added", "step.skipped", "step.accepted", "step.judged"} <= set(actions)
    judged = [e.payload for e in report.entries if e.action == "step.judged" and e.payload["step"] == "emg_rest"]
    assert judged == [{"step": "emg_rest", "attempt": 1, "passed": False, "failed_checks": ["signal:emg_a"]}]
    assert "12/03" not in " ".join(str(e.payload) for e in report.entries)  # the note's text stays in the file
    assert parts["emg_jaw"].closed
