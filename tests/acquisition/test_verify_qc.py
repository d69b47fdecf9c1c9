"""`verify` never reads plain `OK` for a file whose own QC failed: an intact file whose journal lost or repaired
records when it was built is `QC-FAILED`, counted in the summary, and the exit code is 1 (a data manager must
look)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.seal import seal_file
from sessions.cli import main
from tests.acquisition.journal_builder import flip, write_journal

META_EMG = 2  # meta log order: visit, calibration, stream emg, stream jaw
ITEMS = ("meta: 336 bytes in 1 damaged region(s) skipped (the records there are lost); streams/emg description: "
         "lost in meta, taken from its copy in streams/emg")


def _sealed(data: Path, subject: str, *, damage: bool) -> Path:
    jdir = data.parent / f"journal-{subject}"
    write_journal(jdir, subject=subject)
    if damage:
        flip(jdir / "meta", META_EMG)  # repaired from the copy at the head of its stream log: QC fails
    partial, final = jdir.with_name(f"{subject}_D0.h5.partial"), data / f"{subject}_D0.h5"
    comp = Compactor(jdir, partial)
    comp.run_once(final=True)
    comp.finish({"closed_utc": comp.recording_end_utc(), "state": "recovered"})
    assert comp.journal_damage()["ok"] is (not damage)
    tallies, n_events = comp.seal_expectations()
    seal_file(partial, final, data_dir=data, expected=tallies, expected_events=n_events)
    return final


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    _sealed(d, "ABC-001", damage=True)
    _sealed(d, "ABC-002", damage=False)
    return d


def test_an_intact_file_with_journal_damage_is_qc_failed_not_ok(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(data)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("QC-FAILED  ABC-001_D0.h5: intact, but its journal lost or repaired records when it "
                               f"was built: {ITEMS}  (2 streams, 3300 samples; ")
    assert not any(ln.startswith("OK  ABC-001_D0.h5") or ln.startswith("FAILED  ABC-001_D0.h5") for ln in lines)
    assert lines[1].startswith("OK  ABC-002_D0.h5  (")
    assert lines[-1] == ("verify: QC-FAILED: 1 of 2 visit file(s) intact but QC-failed (journal damage when built: a "
                         "data manager must look), 0 failed, 0 other problem(s)")


def test_a_single_qc_failed_file_exits_1_and_a_clean_one_still_0(data: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(data / "ABC-001_D0.h5")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("QC-FAILED  ABC-001_D0.h5: ") and out[-1].startswith("verify: QC-FAILED: 1 of 1 ")
    assert main(["verify", str(data / "ABC-002_D0.h5")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("verify: OK: 1 visit file(s)")


def test_a_qc_failed_file_that_is_also_damaged_is_failed_and_counted_once(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = data / "ABC-001_D0.h5"
    f.chmod(0o644)  # a broken seal: FAILED, and the QC note still shown
    assert main(["verify", str(data)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("FAILED  ABC-001_D0.h5  (")
    qc = [ln for ln in lines if ln.startswith("QC-FAILED  ")]
    assert qc == [f"QC-FAILED  ABC-001_D0.h5: also, its journal lost or repaired records when it was built: {ITEMS}"]
    assert lines[-1] == "verify: FAILED: 1 of 2 visit file(s) failed, 0 other problem(s)"


def test_a_qc_failed_line_names_the_first_items_and_counts_the_rest() -> None:
    from acquisition.visitfile.verify import VerifyReport
    from sessions.verify_command import FileOutcome, _status

    rep = VerifyReport(path="x", ok=True, qc_failures=[f"item {i}" for i in range(5)])
    line = _status(FileOutcome(name="ABC-001_D0.h5", report=rep))
    assert line.startswith("QC-FAILED  ABC-001_D0.h5: intact, but its journal lost or repaired records when it was "
                           "built: item 0; item 1; item 2; and 2 more (`amuse-acq inspect` lists them)  (0 streams, ")


def test_hdf5_aborting_on_one_file_costs_that_file_not_the_run(
        data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import faulthandler
    import os
    import threading

    import acquisition.visitfile.verify as verify_mod
    import sessions.verify_command as command

    if threading.active_count() != 1:
        pytest.skip("the check forks only in a single-threaded process")
    parent, real = os.getpid(), verify_mod.verify_file

    def aborting(path: Path, **kw: object) -> object:
        if Path(path).name == "ABC-001_D0.h5":
            if os.getpid() == parent:
                raise RuntimeError("HDF5 would have aborted the whole verify run here")
            faulthandler.disable()  # pytest's handler would print the child's stack: the abort is the point
            os.abort()
        return real(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_mod, "verify_file", aborting)
    monkeypatch.setattr(command, "verify_file", aborting, raising=False)
    assert main(["verify", str(data)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "FAILED  ABC-001_D0.h5  (0 streams, 0 samples; 1 problem(s))"
    assert lines[1] == ("FAILED  ABC-001_D0.h5: the check of this file ended without a report (signal 6: HDF5 "
                        "aborted on it?); the other files were checked")
    assert lines[2].startswith("OK  ABC-002_D0.h5  (")
    assert lines[-1] == "verify: FAILED: 1 of 2 visit file(s) failed, 0 other problem(s)"
