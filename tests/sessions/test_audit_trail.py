"""`AuditTrail`: what the runner calls. An entry refused writes nothing; a visit's entries reach the sealed file's
`/audit` (journalled, counted by the ledger, covered by the digest tree, read by `VisitFile.audit()`), each with
its twin in the daily log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acquisition.visitfile.reader import VisitFile
from sessions.audit.entry import CLOSED, GENESIS, parse_line
from sessions.audit.errors import AuditRefused, AuditWriteError
from sessions.audit.payload_rules import AuditPayloadRefused
from sessions.audit.trail import AuditTrail
from sessions.audit.verify import verify_path
from sessions.manager import SessionManager
from tests.sessions.audit_helpers import Clocks, machine_trail, read_log
from tests.sessions.helpers import open_session, ramp_source


@pytest.mark.parametrize(("kwargs", "error", "says"), [
    ({"action": "Skip"}, AuditRefused, "noun.verb"),
    ({"action": "audit.closed"}, AuditRefused, "written by the trail itself"),
    ({"operator": "Marie Dupont"}, AuditRefused, "staff login"),
    ({"uid": -1}, AuditRefused, "OS uid"),
    ({"payload": {"patient_name": "x"}}, AuditPayloadRefused, "names identity"),
])
def test_a_refused_entry_writes_nothing(tmp_path: Path, kwargs: dict[str, Any], error: type, says: str) -> None:
    trail = machine_trail(tmp_path)
    trail.record("device.checked", operator="tech1", payload={})
    log = tmp_path / "audit" / "2026-11-25.jsonl"
    before = log.read_bytes()
    call = {"action": "step.skipped", "operator": "tech1", "payload": {"reason": "pain"}, **kwargs}
    with pytest.raises(error, match=says):
        trail.record(call.pop("action"), **call)
    assert log.read_bytes() == before


def test_the_uid_is_the_processs_unless_given(tmp_path: Path) -> None:
    import os

    c = Clocks()
    trail = AuditTrail(tmp_path, clock=c.lsl, utc=c.utc)
    assert trail.record("device.checked", operator="tech1", payload={}).uid == os.getuid()
    assert trail.record("device.checked", operator="tech1", payload={}, uid=4242).uid == 4242
    assert trail.record("device.checked", operator="tech1", payload={}, t_lsl=7.5).t_lsl == 7.5


Visit = tuple[SessionManager, AuditTrail]


@pytest.fixture()
def visit(tmp_path: Path) -> Iterator[Visit]:
    s = open_session(tmp_path / "data")
    c = Clocks()
    trail = AuditTrail.for_visit(s, clock=c.lsl, utc=c.utc)
    s.add_source(ramp_source("r", 2, 200.0))
    yield s, trail
    if s.state.value == "recording":
        s.close()


def test_a_visits_entries_reach_its_sealed_file_with_twins_in_the_daily_log(visit: Visit, tmp_path: Path) -> None:
    s, trail = visit
    recorded = [trail.record("step.skipped", operator="tech1", payload={"step": "rest", "reason": "pain"}),
                trail.record("gate.overridden", operator="tech2", payload={"gate": "disk_space", "reason": "ok"},
                             uid=1234)]
    time.sleep(0.3)
    closing = trail.close(operator="tech1")
    with pytest.raises(AuditWriteError, match="closed"):
        trail.record("note.added", operator="tech1", payload={})
    path = s.close().path
    with VisitFile.open(path, verify="full") as vf:  # the digest tree covers /audit
        rows = vf.audit()
        lines = vf.audit_lines()
    assert [r.action for r in rows] == [GENESIS, "step.skipped", "gate.overridden", CLOSED]
    assert lines is not None and lines[1:] == [e.line() for e in (*recorded, closing)]
    assert rows[2].operator == "tech2" and rows[2].uid == 1234 and rows[3].payload == {"entries": 4}
    assert {r.chain for r in rows} == {"visit/ABC-001_D0"}
    day = [parse_line(x) for x in read_log(tmp_path / "data" / "audit" / "2026-11-25.jsonl")]
    twins = [e for e in day if e.ref is not None]
    assert [(e.ref.seq, e.ref.hash) for e in twins] == [(r.seq, r.hash) for r in rows]  # type: ignore[union-attr]
    assert [(e.action, e.payload, e.operator, e.uid) for e in twins] == [
        (r.action, r.payload, r.operator, r.uid) for r in rows]
    assert verify_path(tmp_path / "data").ok


def test_the_qc_counts_the_audit_log_only_for_a_visit_with_a_trail(tmp_path: Path) -> None:
    plain = open_session(tmp_path / "plain")
    with VisitFile.open(plain.close().path) as vf:
        assert "audit" not in vf.qc["journal_damage_bytes"] and vf.audit() == [] and vf.audit_lines() == []
    s = open_session(tmp_path / "audited")
    AuditTrail.for_visit(s, clock=lambda: 1.0).close()
    with VisitFile.open(s.close().path) as vf:
        assert vf.qc["journal_damage_bytes"]["audit"] == 0 and vf.qc["journal_damage"]["ok"] is True
        assert len(vf.audit()) == 2


def test_an_entry_lost_in_the_journal_is_reported_by_the_ledger_and_by_verify(tmp_path: Path) -> None:
    """The journal's audit record of seq 1 never arrives (a damaged record): the QC says so, audit verify names it."""
    s = open_session(tmp_path / "data")
    sink_write = s.write_audit
    s.write_audit = lambda seq, line: None if seq == 1 else sink_write(seq, line)  # type: ignore[method-assign]
    trail = AuditTrail.for_visit(s, clock=lambda: 1.0)
    trail.record("note.added", operator="tech1", payload={"note": "lost"})
    trail.record("note.added", operator="tech1", payload={"note": "kept"})
    trail.close()
    path = s.close().path
    with VisitFile.open(path) as vf:
        damage = vf.qc["journal_damage"]
    assert damage["ok"] is False
    assert any(x.startswith("audit: entries seq 1..1 lost in the journal") for x in damage["lost_records"]), damage
    problems = verify_path(path).problems
    assert [(p.kind, p.seq) for p in problems] == [("removed", 1)]


def test_a_journal_failure_raises_the_sessions_error_and_writes_no_twin(visit: Visit, tmp_path: Path) -> None:
    from sessions.session_errors import SessionError

    s, trail = visit
    log = tmp_path / "data" / "audit" / "2026-11-25.jsonl"
    before = log.read_bytes()
    s.close()
    with pytest.raises(SessionError):
        trail.record("note.added", operator="tech1", payload={})
    assert log.read_bytes() == before
