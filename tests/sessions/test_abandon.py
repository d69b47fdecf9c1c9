"""`amuse-acq abandon`: the one explicit, recorded way to free the code of an open visit (issue 7, section 5)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sessions.cli import main as cli_main
from tests.sessions.helpers import open_session, ramp_source

REPO = Path(__file__).resolve().parents[2]

RECORDER = r"""
import sys, time
from pathlib import Path
from tests.sessions.helpers import open_session, ramp_source
s = open_session(Path(sys.argv[1]), subject="ABN-001")
s.add_source(ramp_source("emg", 4, 1000.0))
print("recording", flush=True)
time.sleep(600)
"""

ABANDON = ["abandon", "--subject", "ABN-001", "--visit", "D0", "--operator", "dm.jones",
           "--reason", "wrong subject selected at the start"]


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_abandon_open_visit_recorded_and_code_freed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(data)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "recording"
        # a visit being recorded right now is never moved from under its recorder
        assert cli_main([ABANDON[0], str(data), *ABANDON[1:]]) == 1
        assert "being recorded" in _err_line(capsys)
        assert (data / ".open" / "ABN-001_D0" / "journal").is_dir()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    # a demo or record of that visit is refused while it is open, and says how to proceed
    assert cli_main(["demo", "--subject", "ABN-001", "--data-dir", str(data)]) == 2
    assert "abandon" in _err_line(capsys)

    assert cli_main([ABANDON[0], str(data), *ABANDON[1:]]) == 0
    out = capsys.readouterr().out
    assert "can be recorded again" in out
    assert not (data / ".open" / "ABN-001_D0").exists()
    [moved] = list((data / ".abandoned").iterdir())
    assert moved.name.startswith("ABN-001_D0.")
    assert (moved / "journal" / "streams" / "emg").is_dir(), "nothing deleted: the journal moved whole"
    rec = json.loads((moved / "ABANDONED.json").read_text())
    assert rec["operator"] == "dm.jones" and rec["reason"] == "wrong subject selected at the start"
    assert rec["key"] == "ABN-001_D0" and rec["moved_to"] == f".abandoned/{moved.name}"
    assert rec["abandoned_utc"].endswith("Z") and rec["os_user"]
    assert rec["held"]["streams"] == ["emg"] and rec["held"]["bytes"] > 0
    assert rec["held"]["journal_logs"]["streams/emg"]["segments"] >= 1
    assert rec["held"]["visit_record"]["operator"] == "tech1"
    [line] = (data / "ABANDONED.log").read_text().splitlines()
    audit = json.loads(line)
    assert audit["key"] == "ABN-001_D0" and audit["operator"] == "dm.jones" and audit["held_streams"] == ["emg"]

    # recover no longer sees it; the visit code is free for a real recording
    assert cli_main(["recover", str(data)]) == 0
    assert not (data / "ABN-001_D0.h5").exists()
    s = open_session(data, subject="ABN-001")
    s.add_source(ramp_source("emg", 4, 1000.0))
    sealed = s.close()
    assert sealed.path == data / "ABN-001_D0.h5"

    # now sealed: abandon refuses, and a second abandon of the first recording is not possible either
    assert cli_main([ABANDON[0], str(data), *ABANDON[1:]]) == 2
    assert "never abandoned" in _err_line(capsys)
    assert sealed.path.exists() and len(list((data / ".abandoned").iterdir())) == 1
    assert len((data / "ABANDONED.log").read_text().splitlines()) == 1


@pytest.mark.parametrize(("extra", "needle"), [
    (["--reason", ""], "reason"),
    (["--reason", "ok\n\x1b[31mforged line"], "reason"),
    (["--operator", "tech 1"], "operator"),
])
def test_abandon_bad_input_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                                   needle: str) -> None:
    (tmp_path / ".open" / "ABN-001_D0" / "journal").mkdir(parents=True)
    args = [ABANDON[0], str(tmp_path), *ABANDON[1:], *extra]
    assert cli_main(args) == 2
    line = _err_line(capsys)
    assert needle in line and "\x1b" not in line
    assert (tmp_path / ".open" / "ABN-001_D0").is_dir() and not (tmp_path / ".abandoned").exists()


def test_abandon_without_open_visit_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main([ABANDON[0], str(tmp_path), *ABANDON[1:]]) == 2
    assert "no open recording" in _err_line(capsys)
    assert not (tmp_path / "ABANDONED.log").exists()


def test_abandon_journal_without_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder claimed but never written (a kill between the two): abandonable, its record says so."""
    (tmp_path / ".open" / "ABN-001_D0").mkdir(parents=True)
    assert cli_main([ABANDON[0], str(tmp_path), *ABANDON[1:]]) == 0
    [moved] = list((tmp_path / ".abandoned").iterdir())
    rec = json.loads((moved / "ABANDONED.json").read_text())
    assert rec["held"]["files"] == 0 and rec["held"]["visit_record_problem"] == "no visit record in the journal"


def test_abandon_waits_for_recover_then_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """While `recover` holds the data-dir lock nothing is moved: abandon never races a recovery."""
    from sessions.visit_store import VisitStore

    (tmp_path / ".open" / "ABN-001_D0").mkdir(parents=True)
    with VisitStore(tmp_path).lock_data_dir():
        assert cli_main([ABANDON[0], str(tmp_path), *ABANDON[1:]]) == 2
    assert "locked" in _err_line(capsys)
    assert (tmp_path / ".open" / "ABN-001_D0").is_dir() and not (tmp_path / ".abandoned").exists()
