"""Failures reach the operator as one line and an exit code, never a traceback (review of issues 7 and 8).

- a journal that cannot be written when the visit opens (a full disk): one line, the visit not left claimed;
- a full disk in the middle of a demo: the demo stops at once (not after a 20 s wait for a scan), one line;
- a seal that fails: one line, no traceback in the log output;
- a bug: `internal error: <Type>: <first line>`, the traceback only in the DEBUG log;
- `recover` prints folder names and journal text escaped.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import acquisition.journal.writer as jw
from acquisition.journal import JournalError
from sessions.cli import main as cli_main
from sessions.data_dir import check_visit_free
from tests.sessions.fake_sources import SwitchableSource

KEY = "ABC-001_D0"


def _no_space(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _amuse_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("amuse-acq:")]


class FakeInlet(SwitchableSource):
    """Stands in for `LslInletSource(cfg)`: no LSL, a regular 100 Hz stream named after the `--lsl` name."""

    republish = False
    simulated = False  # what a live vendor stream says (`desc/acquisition/simulated` absent)
    replay_sha256: str | None = None  # not a replay (`desc/replay` absent)

    def __init__(self, cfg: Any) -> None:
        super().__init__(f"lsl:{cfg.lsl_name}", {cfg.lsl_name.lower(): 100.0})
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_lsl(monkeypatch: pytest.MonkeyPatch) -> list[FakeInlet]:
    import acquisition.lsl.inlet as inlet

    made: list[FakeInlet] = []

    def make(cfg: Any) -> FakeInlet:
        made.append(FakeInlet(cfg))
        return made[-1]

    monkeypatch.setattr(inlet, "LslInletSource", make)
    return made


def _record(data: Path, *extra: str) -> int:
    return cli_main(["record", "--data-dir", str(data), "--subject", "ABC-001", "--visit", "D0",
                     "--operator", "tech1", "--lsl", "EMG", "--simulated", *extra])


# -- 1. the journal cannot be written when the visit opens ------------------------------------------------
def test_record_full_disk_at_open_is_one_line_and_frees_the_visit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        fake_lsl: list[FakeInlet]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(jw, "_write_all", _no_space)
    assert _record(data, "--duration", "0.5") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = _amuse_lines(err)
    assert line.startswith(f"amuse-acq: error: visit {KEY} could not be opened: journal write failed: No space "
                           "left on device; nothing was recorded, nothing is kept")
    assert f"visit {KEY} can be recorded again when space is free" in line
    assert not (data / ".open" / KEY).exists()  # the claim is undone: no folder, no lock
    check_visit_free(data, KEY)  # raises if the visit were still claimed
    assert [src.closed for src in fake_lsl] == [True]  # the inlet was let go of
    monkeypatch.undo()  # space is back
    import acquisition.lsl.inlet as inlet

    monkeypatch.setattr(inlet, "LslInletSource", FakeInlet)
    assert _record(data, "--duration", "0.5") == 0  # the same visit records once space is back
    assert (data / f"{KEY}.h5").is_file()


@pytest.mark.timeout(120)
def test_demo_full_disk_at_open_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(jw, "_write_all", _no_space)
    assert cli_main(["demo", "--data-dir", str(data), "--speed", "10"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = _amuse_lines(err)
    assert line.startswith("amuse-acq: error: visit SIM-001_D0 could not be opened: journal write failed: No "
                           "space left on device; nothing was recorded"), line
    assert not (data / ".open" / "SIM-001_D0").exists()
    check_visit_free(data, "SIM-001_D0")


# -- 4. a full disk in the middle of the demo ----------------------------------------------------------------
@pytest.mark.timeout(180)
def test_demo_full_disk_mid_visit_stops_at_once_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The disk fills right after the first scan step starts (the N records up to its `step.started`): every
    later append fails with ENOSPC. Before, the demo waited out the scan step (20 s) with its scanner stopped."""
    data = tmp_path / "data"
    data.mkdir()
    real_append = jw.LogWriter.append
    full = threading.Event()
    t_full: list[float] = []

    def append(self: jw.LogWriter, payload: Any) -> None:
        if full.is_set():
            if not t_full:
                t_full.append(time.monotonic())
            raise JournalError(f"log {self.name!r}: writing to {self.segment_path} failed") from OSError(
                errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_append(self, payload)
        raw = bytes(payload)
        if self.name == "events" and b'"step.started"' in raw and b'"scan_rest"' in raw:
            full.set()

    monkeypatch.setattr(jw.LogWriter, "append", append)
    t0 = time.monotonic()
    rc = cli_main(["demo", "--data-dir", str(data), "--speed", "10"])
    t_end = time.monotonic()
    cap = capsys.readouterr()
    assert rc == 1
    assert "Traceback" not in cap.err + cap.out
    assert t_full, "the disk never filled: the demo never reached scan_rest"
    assert t_end - t_full[0] < 5.0, f"the demo went on for {t_end - t_full[0]:.1f} s after the disk filled"
    lines = _amuse_lines(cap.err)
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("amuse-acq: error: visit SIM-001_D0 failed: journal write failed: No space left "
                               "on device; what was recorded up to "), lines[0]
    assert cap.err.rstrip().splitlines()[-1] == lines[0]  # it ends with that line
    assert not any(ln.startswith("sealed: ") for ln in cap.out.splitlines())
    assert not any("scan_max_opening" in ln for ln in cap.out.splitlines())  # no stepping on after the failure
    assert t_end - t0 < 100


# -- 2. a seal that fails --------------------------------------------------------------------------------------
def test_failed_seal_is_one_line_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str],
                                                   fake_lsl: list[FakeInlet]) -> None:
    import sessions.manager as manager

    def broken_seal(*_: object, **__: object) -> None:
        raise RuntimeError("re-read of the partial file disagrees with the journal\nsecond line")

    monkeypatch.setattr(manager, "finalize", broken_seal)
    data = tmp_path / "data"
    data.mkdir()
    assert _record(data, "--duration", "0.5") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = _amuse_lines(err)
    assert line == ("amuse-acq: internal error: RuntimeError: re-read of the partial file disagrees with the "
                    "journal; details in the log (--log-level DEBUG)")
    [logged] = [ln for ln in err.splitlines() if "visit.close_failed" in ln]
    assert "RuntimeError: re-read of the partial file disagrees with the journal" in logged
    assert "second line" not in err
    assert (data / ".open" / KEY / "journal").is_dir()  # kept for recover


# -- 3. a bug ------------------------------------------------------------------------------------------------------
def test_internal_error_is_one_line_and_the_traceback_goes_to_the_debug_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sessions.cli as cli

    def buggy(_args: object) -> int:
        raise LookupError("no such setting\nsecond line")

    monkeypatch.setattr(cli, "cmd_config", buggy)
    assert cli_main(["config"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["amuse-acq: internal error: LookupError: no such setting; details in the log "
                                "(--log-level DEBUG)"]
    assert cli_main(["--log-level", "DEBUG", "config"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "cli.internal_error" in err
    assert err.rstrip().splitlines()[-1].startswith("amuse-acq: internal error: LookupError:")
    from acquisition.log import configure

    configure()  # back to the default level for the tests after this one


# -- 6. recover escapes what it prints ---------------------------------------------------------------------------
def test_recover_prints_folder_names_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    evil = "ABC-001_D0\x1b[31mRED\x07"
    (data / ".open" / evil).mkdir(parents=True)
    cli_main(["recover", str(data)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mRED" in out

