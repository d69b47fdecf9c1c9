"""`audit verify` names each kind of tampering, and the entry, in a daily log and in a sealed visit file's `/audit`.

Each case tampers a copy the way an editor would (a text editor on the daily log, h5py on a writable copy of the
sealed file) and expects exactly the problems it causes, by kind and seq: one edit is one problem, never a cascade.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from acquisition.visitfile.verify import verify_file
from sessions.audit.entry import parse_line, seal_entry
from sessions.audit.trail import AuditTrail
from sessions.audit.verify import verify_path
from sessions.cli import main
from tests.sessions import audit_helpers as t
from tests.sessions.helpers import open_session, ramp_source

#: tampering -> what it does to lines, and the (kind, seq) problems expected; `k` is the entry tampered with
K = 3
CASES: dict[str, tuple[Callable[[list[str]], list[str]], Callable[[int], set[tuple[str, int | None]]]]] = {
    "edit a payload": (lambda ls: t.edit_payload(ls, K), lambda last: {("edited", K)}),
    "edit a hash": (lambda ls: t.edit_hash(ls, K), lambda last: {("edited", K)}),
    "edit and rehash": (lambda ls: t.edit_and_rehash(ls, K), lambda last: {("edited", K)}),
    "edit the seq field": (lambda ls: t.edit_field(ls, K, "seq", 30), lambda last: {("edited", K)}),
    "remove": (lambda ls: t.remove(ls, K), lambda last: {("removed", K)}),
    "insert a forged entry": (lambda ls: t.insert_forged(ls, K), lambda last: {("inserted", K)}),
    "insert a copy": (lambda ls: t.insert_copy(ls, 5, K), lambda last: {("inserted", 5)}),
    "swap two": (lambda ls: t.swap(ls, K, K + 1), lambda last: {("reordered", K + 1)}),
    "swap two apart": (lambda ls: t.swap(ls, 2, 5), lambda last: {("reordered", 2), ("reordered", 5)}),
    "remove the genesis": (lambda ls: t.remove(ls, 0), lambda last: {("bad genesis", 1)}),
    "cut the last line mid-line": (t.cut_last, lambda last: {("truncated", last)}),
}


def _kinds(problems) -> set[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    return {(p.kind, p.seq) for p in problems}


# -- daily log -----------------------------------------------------------------------------------------------
@pytest.fixture()
def daily(tmp_path: Path) -> Path:
    return t.write_machine_log(tmp_path / "data", 8)


@pytest.mark.parametrize("case", [*CASES, "truncate the last entry"])
def test_daily_log_tampering_is_named(daily: Path, case: str) -> None:
    lines = t.read_log(daily)
    assert verify_path(daily).ok
    last = parse_line(lines[-1]).seq
    if case == "truncate the last entry":  # a whole line removed: the head still names it
        tamper, expected = t.drop_last, {("truncated", last)}
    else:
        tamper, expect = CASES[case]
        expected = expect(last)
    tampered = tamper(lines)
    t.write_log(daily, tampered, newline=case != "cut the last line mid-line")
    problems = verify_path(daily).problems
    assert _kinds(problems) == expected, [p.text() for p in problems]
    assert len(problems) == len(expected), [p.text() for p in problems]


def test_daily_log_problem_lines_name_the_entry_and_exit_1(daily: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t.write_log(daily, t.edit_payload(t.read_log(daily), K))
    assert main(["audit", "verify", str(daily)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"FAILED  {daily}  (9 stored, 1 problem(s))")
    assert out[1] == (f"FAILED  {daily}: seq 3, line 4: edited: its content does not give its hash (the entry was "
                      "changed after it was written)")
    assert out[-1] == "audit verify: 1 chain(s), 0 intact, 1 FAILED (1 problem(s))"


def test_a_whole_rewritten_log_is_caught_by_its_head(daily: Path) -> None:
    """An editor who recomputes every hash after removing an entry leaves a valid chain; the head names more."""
    entries = [parse_line(x) for x in t.read_log(daily)]
    t.write_log(daily, t.rechain([e for e in entries if e.seq != 4]))
    assert _kinds(verify_path(daily).problems) == {("truncated", 8)}


def test_an_entry_forged_after_the_head_by_more_than_a_crash_leaves_is_inserted(daily: Path) -> None:
    lines = t.read_log(daily)
    prev = parse_line(lines[-1])
    for _ in range(2):
        prev = seal_entry(**{**prev.model_dump(exclude={"hash", "seq", "prev", "ref"}), "seq": prev.seq + 1,
                             "prev": prev.hash})
        lines.append(prev.line())
    t.write_log(daily, lines)
    assert _kinds(verify_path(daily).problems) == {("inserted", 10)}


# -- days in a folder ----------------------------------------------------------------------------------------
@pytest.fixture()
def three_days(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for day in ("2026-11-23", "2026-11-24", "2026-11-25"):
        t.write_machine_log(data, 3, day=day)
    assert verify_path(data).ok
    return data


def test_a_day_removed_is_named_by_the_next_day(three_days: Path) -> None:
    (three_days / "audit" / "2026-11-24.jsonl").unlink()
    (three_days / "audit" / "2026-11-24.head").unlink()
    problems = verify_path(three_days).problems
    assert [(p.kind, Path(p.source).name) for p in problems] == [("removed", "2026-11-25.jsonl")]
    assert "'2026-11-24.jsonl'" in problems[0].detail


def test_a_day_cut_at_its_end_and_its_head_rewritten_is_named_by_the_next_day(three_days: Path) -> None:
    log = three_days / "audit" / "2026-11-24.jsonl"
    lines = t.read_log(log)
    t.write_log(log, lines[:-1])
    cut = parse_line(lines[-2])
    log.with_suffix(".head").write_text(f'{{"hash":"{cut.hash}","log":"{log.name}","seq":{cut.seq}}}')
    problems = verify_path(three_days).problems
    assert [(p.kind, p.seq, Path(p.source).name) for p in problems] == [("truncated", 3, "2026-11-24.jsonl")]


# -- a sealed visit file -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sealed_visit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sealed visit whose chain is a genesis, 6 actions and the closing entry (seq 0..7)."""
    data = tmp_path_factory.mktemp("audit_visit") / "data"
    s = open_session(data)
    c = t.Clocks()
    trail = AuditTrail.for_visit(s, clock=c.lsl, utc=c.utc)
    s.add_source(ramp_source("r", 2, 200.0))
    for i in range(6):
        trail.record("step.noted", operator="tech1", payload={"step": f"s{i}", "ok": True})
    time.sleep(0.3)
    trail.close(operator="tech1")
    return s.close().path


@pytest.mark.parametrize("case", [*CASES, "truncate the last entry"])
def test_visit_file_tampering_is_named(sealed_visit: Path, tmp_path: Path, case: str) -> None:
    copy = t.writable_copy(sealed_visit, tmp_path)
    lines = t.read_visit_audit(copy)
    assert len(lines) == 8 and verify_path(copy).ok
    if case == "truncate the last entry":  # the closing entry removed: the chain ends without it
        tamper, expected = t.drop_last, {("truncated", 6)}
    else:
        tamper, expect = CASES[case]
        expected = expect(7)
    t.write_visit_audit(copy, tamper(lines))
    problems = verify_path(copy).problems
    assert _kinds(problems) == expected, [p.text() for p in problems]
    assert len(problems) == len(expected), [p.text() for p in problems]
    assert all(p.position.startswith("row ") for p in problems if p.position)
    # the file's own content digest catches it too, but only audit verify names the entry
    rep = verify_file(copy)
    assert not rep.ok and any("/audit/entries" in p for p in rep.problems), rep.problems


def test_visit_file_entry_after_the_closing_entry_is_inserted(sealed_visit: Path, tmp_path: Path) -> None:
    copy = t.writable_copy(sealed_visit, tmp_path)
    lines = t.read_visit_audit(copy)
    closing = parse_line(lines[-1])
    extra = seal_entry(**{**closing.model_dump(exclude={"hash", "seq", "prev", "ref", "action", "payload"}),
                          "seq": 8, "prev": closing.hash, "action": "note.added", "payload": {"note": "late"}})
    t.write_visit_audit(copy, [*lines, extra.line()])
    assert _kinds(verify_path(copy).problems) == {("inserted", 8)}


def test_a_visit_rechained_without_an_entry_is_caught_by_its_twins(sealed_visit: Path, tmp_path: Path) -> None:
    """Removing an entry and recomputing the file's whole chain leaves a valid chain in the file; the daily log
    of the same DATA_DIR still holds the twin of every original entry, and names the one that is gone."""
    data = tmp_path / "data"
    shutil.copytree(sealed_visit.parent / "audit", data / "audit")
    copy = t.writable_copy(sealed_visit, data)
    entries = [parse_line(x) for x in t.read_visit_audit(copy)]
    t.write_visit_audit(copy, t.rechain([e for e in entries if e.seq != 3]))
    assert verify_path(copy).ok  # the file alone cannot tell
    problems = verify_path(data).problems
    assert problems and all(p.kind in ("removed", "edited") and p.source.endswith(".jsonl") for p in problems)
    assert any(f"{copy}:/audit seq 3 (step.noted) is not in this log" in p.detail for p in problems), problems


def test_the_cli_checks_a_data_dir_and_exits_0_when_intact(sealed_visit: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(sealed_visit.parent)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"OK  {sealed_visit}:/audit  (8 entries, seq 0..7, visit/ABC-001_D0)"
    assert out[1].startswith(f"OK  {sealed_visit.parent / 'audit'}/") and "(9 entries, seq 0..8, day/" in out[1]
    assert out[-1] == "audit verify: 2 chain(s), 2 intact, 0 FAILED (0 problem(s))"


@pytest.mark.parametrize("target", ["missing", "empty_dir", "not_a_log.txt"])
def test_bad_input_exits_2_in_one_line(tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / target
    if target == "empty_dir":
        p.mkdir()
    elif target.endswith(".txt"):
        p.write_text("x")
    assert main(["audit", "verify", str(p)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("amuse-acq: error: ")


def test_a_file_without_an_audit_trail_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    golden = next((Path(__file__).resolve().parents[1] / "data" / "golden" / "clean_d0").glob("*.h5"))
    assert main(["audit", "verify", str(golden)]) == 1
    assert "bad genesis: the file has no /audit (written before the audit trail existed)" in capsys.readouterr().out
