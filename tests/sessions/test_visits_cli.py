"""`amuse-acq visits [SUBJECT] [--data-dir] [--json]`: what it prints, the subject filter, the JSON report, the
refusals (exit 2, one line), and that a damaged directory is listed, not fatal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sessions.cli import main as cli_main
from sessions.cli_parser import build_parser
from sessions.visits_cli import add_override_argument, cmd_visits, override_from_args
from sessions.visits_report import VisitsReport
from tests.sessions.visit_dirs import abandoned, open_visit, sealed

D0_UTC = "2026-01-07T09:00:00.000000Z"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    sealed(d, "ABC-001", "D0", D0_UTC)
    sealed(d, "ABC-001", "W4", "2026-02-05T10:00:00.000000Z")
    abandoned(d, "ABC-001", "W12", "2026-03-30T09:00:00.000000Z")
    sealed(d, "ABC-002", "D0", D0_UTC, replay_of="ABC-001_D0.h5")
    open_visit(d, "ABC-003", "D0", "2026-01-09T09:00:00.000000Z")
    (d / "ABC-004_D0.h5").write_bytes(b"garbage" * 50)
    return d


def _run(data: Path, *extra: str, now: dt.datetime | None = None) -> int:
    args = build_parser(simulators=False, calibrate_kinds=False).parse_args(
        ["visits", "--data-dir", str(data), *extra])
    return cmd_visits(args, now=now)


def test_lines(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(data, now=dt.datetime(2026, 3, 28, 12, tzinfo=dt.timezone.utc)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ABC-001  D0 2026-01-07  (UTC calendar)"
    assert out[1].startswith("  D0   sealed ") and "started 2026-01-07T09:00:00.000000Z" in out[1]
    assert "window 2026-01-28 to 2026-02-11 (due 2026-02-04): in window (+1 d from due)  ABC-001_W4.h5" in out[2]
    assert out[3].startswith("  W12  abandoned ") and "wrong rig" in out[3]
    # W12 only abandoned: still to record, its window open on the injected day; W24 later
    assert out[4] == ("  W12  not recorded   window 2026-03-25 to 2026-04-08 (due 2026-04-01): window open, 11 day(s) "
                      "left")
    assert out[5] == "  W24  not recorded   window 2026-06-17 to 2026-07-01 (due 2026-06-24): opens in 81 day(s)"
    assert out[6] == "ABC-002  no sealed D0  (UTC calendar)"
    assert "REPLAY of ABC-001_D0.h5 (not trial data)" in out[7]
    assert out[8] == "ABC-003  no sealed D0  (UTC calendar)"
    assert out[9].startswith("  D0   crashed ") and ".open/ABC-003_D0" in out[9]
    assert out[11].startswith("  D0   unreadable ")
    assert out[12].startswith("       problem: not a readable HDF5 file")
    assert out[-1] == (f"visits: 4 subject(s), 2 sealed trial visit(s), 6 recording(s) listed, 2 problem(s) in "
                       f"{data}")


def test_one_subject_and_json(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(data, "ABC-001", "--json", now=dt.datetime(2026, 3, 28, tzinfo=dt.timezone.utc)) == 0
    report = VisitsReport.model_validate_json(capsys.readouterr().out)
    assert report.subjects == ["ABC-001"] and {e.subject for e in report.entries} == {"ABC-001"}
    assert [(e.visit, e.state.value) for e in report.entries] == [("D0", "sealed"), ("W4", "sealed"),
                                                                   ("W12", "abandoned")]
    assert [(p.visit, str(p.window.due)) for p in report.pending] == [("W12", "2026-04-01"), ("W24", "2026-06-24")]
    assert report.at_utc == "2026-03-28T00:00:00Z" and report.timezone == "UTC"


def test_an_unknown_subject_lists_nothing(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(data, "XYZ-999") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["XYZ-999  no sealed D0  (UTC calendar)", f"  no visit in {data}"]


def test_through_main_with_the_site_calendar(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text('[visit_windows]\ntimezone = "Europe/Paris"\n')
    assert cli_main(["visits", "ABC-001", "--data-dir", str(data), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ABC-001  D0 2026-01-07  (Europe/Paris calendar)\n")


@pytest.mark.parametrize("argv,words", [
    (["visits", "--data-dir", "{missing}"], "does not exist"),
    (["visits", "abc-001", "--data-dir", "{data}"], "does not match the required pattern"),
    (["visits", "ABC-001\x1b[31m", "--data-dir", "{data}"], "subject id"),
])
def test_refusals_are_one_line(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                               words: str) -> None:
    argv = [a.format(missing=tmp_path / "nope", data=data) for a in argv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("amuse-acq: ") and words in err and "\x1b" not in err


def test_override_argument() -> None:
    import argparse

    p = argparse.ArgumentParser()
    add_override_argument(p)
    assert override_from_args(p.parse_args([]), "tech1") is None
    o = override_from_args(p.parse_args(["--override", "patient came late"]), "tech1")
    assert (o.reason, o.operator) == ("patient came late", "tech1")


def test_json_is_plain_json(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["visits", "--data-dir", str(data), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {e["state"] for e in doc["entries"]} == {"sealed", "abandoned", "crashed", "unreadable"}
