"""The visit list of a data directory, derived from the files alone: sealed, recovered, QC-failed, a replay (never
the subject's visit), open (held), recovering (held by another process), crashed, abandoned, unrecoverable, a
damaged file, a file not in the manifest, a manifest line whose file is gone. Never raises, never writes, never
takes a lock."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
from pathlib import Path

import pytest

from acquisition.visit_window_config import VisitWindowSettings
from acquisition.visitfile.manifest import MANIFEST_NAME
from sessions.visit_list import EntryState, list_visits
from tests.sessions.visit_dirs import abandoned, open_visit, sealed, unrecoverable

D0_UTC = "2026-01-07T09:00:00.000000Z"


def _one(visits, subject: str, visit: str):  # type: ignore[no-untyped-def]
    found = visits.at(subject, visit)
    assert len(found) == 1, found
    return found[0]


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    sealed(d, "ABC-001", "D0", D0_UTC)
    sealed(d, "ABC-001", "W4", "2026-02-12T10:00:00.000000Z", qc_ok=False)  # 1 day late, QC failed
    sealed(d, "ABC-001", "W12", "2026-04-02T10:00:00.000000Z", state="recovered")
    sealed(d, "ABC-002", "D0", D0_UTC, replay_of="ABC-001_D0.h5")
    abandoned(d, "ABC-001", "W24", "2026-06-20T09:00:00.000000Z")
    open_visit(d, "ABC-001", "W24", "2026-06-21T09:00:00.000000Z")  # crashed: nobody holds its lock
    unrecoverable(d, "ABC-003", "D0")
    return d


def test_each_state_from_the_files(data: Path) -> None:
    visits = list_visits(data)
    assert visits.subjects() == ["ABC-001", "ABC-002", "ABC-003"]
    d0 = _one(visits, "ABC-001", "D0")
    assert (d0.state, d0.started_utc, d0.in_manifest, d0.problems, d0.window) == \
        (EntryState.SEALED, D0_UTC, True, [], None)
    assert d0.is_trial_visit and visits.trial_visit("ABC-001", "D0") == d0

    w4 = _one(visits, "ABC-001", "W4")
    assert w4.state is EntryState.SEALED and w4.qc_failed and w4.is_trial_visit
    assert any("QC failed" in p for p in w4.problems)
    assert w4.window is not None and (w4.window.first, w4.window.last) == (dt.date(2026, 1, 28), dt.date(2026, 2, 11))
    assert (w4.in_window, w4.days_from_due) == (False, 8)

    w12 = _one(visits, "ABC-001", "W12")
    assert w12.state is EntryState.RECOVERED and w12.is_trial_visit and (w12.in_window, w12.days_from_due) == (True, 1)

    w24 = sorted(visits.at("ABC-001", "W24"), key=lambda e: e.state.value)
    assert [e.state for e in w24] == [EntryState.ABANDONED, EntryState.CRASHED]
    ab, crashed = w24
    assert ab.where.startswith(".abandoned/ABC-001_W24.") and "tech2" in ab.note and "wrong rig" in ab.note
    assert ab.started_utc == "2026-06-20T09:00:00.000000Z" and not ab.is_trial_visit and ab.in_window is None
    assert crashed.where == ".open/ABC-001_W24" and crashed.started_utc == "2026-06-21T09:00:00.000000Z"
    assert "recover" in crashed.note and crashed.is_open and crashed.window is not None

    un = _one(visits, "ABC-003", "D0")
    assert un.state is EntryState.UNRECOVERABLE and "journal holds no record" in un.note
    assert visits.problems == []


def test_a_replay_is_flagged_and_never_the_subjects_visit(data: Path) -> None:
    visits = list_visits(data)
    r = _one(visits, "ABC-002", "D0")
    assert r.state is EntryState.SEALED and r.replay_of == "ABC-001_D0.h5"
    assert not r.is_trial_visit and r.holds_name
    assert visits.trial_visit("ABC-002", "D0") is None
    assert "replay of ABC-001_D0.h5" in visits.why_no_d0("ABC-002")


def test_open_and_recovering_are_told_from_proc_locks(tmp_path: Path) -> None:
    held = open_visit(tmp_path, "ABC-001", "D0", D0_UTC, hold=True)
    assert held is not None
    try:
        e = _one(list_visits(tmp_path), "ABC-001", "D0")
        assert e.state is EntryState.OPEN and e.note == "being recorded" and e.problems == []
        # the lock held by another process than the one that wrote the holder line: recover (or abandon)
        lock = tmp_path / ".open" / "ABC-001_D0" / "visit.lock"
        lock.write_text(json.dumps({"pid": 1, "command": "amuse-acq demo", "since": D0_UTC}) + "\n")
        assert _one(list_visits(tmp_path), "ABC-001", "D0").state is EntryState.RECOVERING
    finally:
        held.close()
    assert _one(list_visits(tmp_path), "ABC-001", "D0").state is EntryState.CRASHED


def test_an_open_folder_without_a_journal(tmp_path: Path) -> None:
    open_visit(tmp_path, "ABC-001", "D0", D0_UTC, record=False)
    e = _one(list_visits(tmp_path), "ABC-001", "D0")
    assert e.state is EntryState.CRASHED and e.started_utc is None
    assert e.problems == ["no readable visit record in its journal"]


def test_damaged_files_are_entries_with_a_problem(data: Path) -> None:
    # a truncated copy, garbage, and a real file under another subject's name: never a crash
    src = data / "ABC-001_D0.h5"
    (data / "ABC-004_D0.h5").write_bytes(src.read_bytes()[:5000])
    (data / "ABC-005_W4.h5").write_bytes(b"not hdf5" * 100)
    shutil.copyfile(src, data / "ABC-006_D0.h5")
    visits = list_visits(data)
    for subject, visit, words in (("ABC-004", "D0", "not a readable HDF5 file"),
                                  ("ABC-005", "W4", "not a readable HDF5 file"),
                                  ("ABC-006", "D0", "does not match the file's own subject 'ABC-001'")):
        e = _one(visits, subject, visit)
        assert e.state is EntryState.UNREADABLE and e.holds_name and not e.is_trial_visit
        assert words in e.problems[0]
        assert e.in_manifest is False and "not in MANIFEST.sha256" in e.problems[-1]
    # the others are untouched by the damage next to them
    assert _one(visits, "ABC-001", "D0").problems == []


def test_manifest_problems(data: Path) -> None:
    f = data / "ABC-001_W12.h5"
    f.unlink()  # a sealed file removed: its manifest line stays
    with open(data / MANIFEST_NAME, "a") as fh:
        fh.write("not a manifest line\n")
    visits = list_visits(data)
    e = _one(visits, "ABC-001", "W12")
    assert e.state is EntryState.MISSING and e.is_missing and not e.holds_name
    assert "listed in MANIFEST.sha256 (line 3) but the file is missing" in e.problems[0]
    assert len(visits.problems) == 1 and "MANIFEST.sha256 line 5" in visits.problems[0]


def test_a_file_not_in_the_manifest(tmp_path: Path) -> None:
    sealed(tmp_path, "ABC-001", "D0", D0_UTC)
    (tmp_path / MANIFEST_NAME).write_text("")  # the seal interrupted before its manifest line
    e = _one(list_visits(tmp_path), "ABC-001", "D0")
    assert e.state is EntryState.SEALED and e.in_manifest is False and e.is_trial_visit
    assert e.problems == ["not in MANIFEST.sha256 (an interrupted seal: run amuse-acq recover; or a file copied in)"]


def test_names_that_read_as_no_visit_are_problems(tmp_path: Path) -> None:
    (tmp_path / ".open" / "no-key-here").mkdir(parents=True)
    (tmp_path / ".abandoned" / "ABC-001_D0").mkdir(parents=True)  # no <utc> part
    visits = list_visits(tmp_path)
    assert visits.entries == []
    assert sorted(visits.problems) == [
        ".abandoned/ABC-001_D0: a folder whose name reads as no <subject>_<visit>.<utc>",
        ".open/no-key-here: a folder whose name reads as no <subject>_<visit>"]


def test_listing_writes_nothing_and_takes_no_lock(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _tree(data)

    def no_lock(*_a: object, **_k: object) -> None:
        raise AssertionError("the visit list took a lock")

    monkeypatch.setattr(fcntl, "flock", no_lock)
    monkeypatch.setattr(fcntl, "lockf", no_lock)
    list_visits(data)
    assert _tree(data) == before


def test_windows_follow_the_settings(data: Path) -> None:
    late = VisitWindowSettings(W4={"late_days": 8})
    w4 = _one(list_visits(data, windows=late), "ABC-001", "W4")
    assert w4.window is not None and w4.window.last == dt.date(2026, 2, 12) and w4.in_window is True


def test_one_subject_reads_only_its_files(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sessions.visit_list as vl

    (data / "ABC-004_D0.h5").write_bytes(b"garbage" * 10)
    opened: list[str] = []
    real_open = vl.VisitFile.open

    def counting_open(path: Path, **kw: object):  # type: ignore[no-untyped-def]
        opened.append(Path(path).name)
        return real_open(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(vl.VisitFile, "open", counting_open)
    visits = list_visits(data, subject="ABC-001")
    assert sorted(opened) == ["ABC-001_D0.h5", "ABC-001_W12.h5", "ABC-001_W4.h5"]
    assert visits.subjects() == ["ABC-001"]
    assert [(e.visit, e.state.value) for e in visits.entries] == [
        ("D0", "sealed"), ("W4", "sealed"), ("W12", "recovered"), ("W24", "abandoned"), ("W24", "crashed")]
    # a subject id that is a prefix of another's is not mixed up with it
    sealed(data, "ABC-001_X", "D0", D0_UTC)
    assert list_visits(data, subject="ABC-001").subjects() == ["ABC-001"]
