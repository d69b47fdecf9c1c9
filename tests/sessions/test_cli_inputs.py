"""A mistake on the command line costs nothing: one line, exit 2, no visit claimed, no stream resolved, no
simulator started; an unusable data directory is one line too (issue 7, sections 5 and 6)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sessions.cli import build_parser
from sessions.cli import main as cli_main

RECORD = ["record", "--subject", "ABC-001", "--visit", "D0", "--operator", "tech1"]


def _one_line_err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "\x1b" not in err
    return lines[0]


def _nothing_claimed(data: Path) -> None:
    assert not (data / ".open" / "ABC-001_D0").exists()
    assert not (data / "ABC-001_D0.h5").exists()


@pytest.mark.parametrize(("extra", "needle"), [
    (["--lsl", "TestEMG", "--lsl", "TestEMG"], "given twice"),
    (["--lsl", "EMG A", "--lsl", "emg_a"], "both be stored as stream 'emg_a'"),
    (["--lsl", "TestEMG", "--duration", "-20"], "--duration"),
    (["--lsl", "TestEMG", "--duration", "nan"], "--duration"),
    (["--lsl", "TestEMG", "--resolve-timeout", "0"], "--resolve-timeout"),
    (["--lsl", "TestEMG", "--resolve-timeout", "-1"], "--resolve-timeout"),
    (["--lsl", "TestEMG", "--seq-channel", "-1"], "--seq-channel"),
    (["--lsl", ""], "--lsl"),
    (["--lsl", " TestEMG"], "--lsl"),
    ([], "at least one --lsl"),
])
def test_record_bad_arguments_refused_before_claim_or_resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               extra: list[str], needle: str) -> None:
    # a resolve of a stream nobody publishes would take the whole timeout: a quick refusal proves none was tried
    timeout = [] if "--resolve-timeout" in extra else ["--resolve-timeout", "20"]
    t0 = time.monotonic()
    rc = cli_main([*RECORD, *extra, *timeout, "--data-dir", str(tmp_path)])
    assert rc == 2
    assert time.monotonic() - t0 < 5.0
    assert needle in _one_line_err(capsys)
    _nothing_claimed(tmp_path)


@pytest.mark.parametrize("existing", ["sealed", "open"])
def test_record_duplicate_visit_refused_before_resolving(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         existing: str) -> None:
    if existing == "sealed":
        (tmp_path / "ABC-001_D0.h5").write_bytes(b"")
    else:
        (tmp_path / ".open" / "ABC-001_D0" / "journal").mkdir(parents=True)
    t0 = time.monotonic()
    rc = cli_main([*RECORD, "--lsl", "NobodyPublishesThis", "--resolve-timeout", "20", "--data-dir", str(tmp_path)])
    assert rc == 2
    assert time.monotonic() - t0 < 5.0, "refused only after trying to resolve the stream"
    line = _one_line_err(capsys)
    assert "ABC-001_D0" in line and ("already recorded" if existing == "sealed" else "unsealed") in line


def test_demo_duplicate_visit_refused_before_simulators(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import sessions.demo

    started: list[object] = []

    def no_rig(*a: object, **k: object) -> None:
        started.append(a)
        raise AssertionError("the simulators were started for a visit that exists")

    monkeypatch.setattr(sessions.demo, "SimulatedRig", no_rig)
    (tmp_path / "ABC-001_W4.h5").write_bytes(b"")
    assert cli_main(["demo", "--subject", "ABC-001", "--visit", "W4", "--data-dir", str(tmp_path)]) == 2
    assert "already recorded" in _one_line_err(capsys)
    (tmp_path / ".open" / "ABC-002_D0").mkdir(parents=True)
    assert cli_main(["demo", "--subject", "ABC-002", "--data-dir", str(tmp_path)]) == 2
    assert "abandon" in _one_line_err(capsys)
    assert started == []


def test_demo_empty_subject_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["demo", "--subject", "", "--data-dir", str(tmp_path)]) == 2
    assert "subject id is empty" in _one_line_err(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("speed", ["0", "-2", "inf"])
def test_demo_bad_speed_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], speed: str) -> None:
    assert cli_main(["demo", "--speed", speed, "--data-dir", str(tmp_path)]) == 2
    assert "--speed" in _one_line_err(capsys)


@pytest.mark.parametrize("cmd", ["demo", "record"])
def test_site_with_escape_codes_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: str) -> None:
    args = ["demo"] if cmd == "demo" else [*RECORD, "--lsl", "X"]
    rc = cli_main([*args, "--site", "../x\n\x1b[31mRED", "--data-dir", str(tmp_path)])
    assert rc == 2
    line = _one_line_err(capsys)
    assert "site" in line and "\\x1b" in line  # the escape shown escaped, never sent to the terminal
    assert list(tmp_path.iterdir()) == []


def test_site_from_environment_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMUSE_SITE", "lyon/1")
    assert cli_main(["demo", "--data-dir", str(tmp_path)]) == 2
    assert "site" in _one_line_err(capsys)


def test_data_dir_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    assert cli_main(["demo", "--data-dir", str(f)]) == 2
    assert "not a directory" in _one_line_err(capsys)
    assert cli_main([*RECORD, "--lsl", "X", "--data-dir", str(f / "sub"), "--create-data-dir"]) == 1
    assert "afile" in _one_line_err(capsys)


@pytest.mark.parametrize("where", ["/proc", "/proc/amuse-data"])
def test_data_dir_under_proc(capsys: pytest.CaptureFixture[str], where: str) -> None:
    assert cli_main(["demo", "--data-dir", where, "--create-data-dir"]) == 1
    assert where in _one_line_err(capsys)


def test_missing_data_dir_refused_unless_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "mnt" / "data"
    for args in (["demo", "--subject", "ABC-001"], [*RECORD, "--lsl", "X"]):
        assert cli_main([*args, "--data-dir", str(missing)]) == 2
        assert "does not exist" in _one_line_err(capsys)
        assert not (tmp_path / "mnt").exists(), "a missing parent was created"
    # even when creating it is asked for (here by the environment), an argument error comes first
    monkeypatch.setenv("AMUSE_CREATE_DATA_DIR", "true")
    assert cli_main([*RECORD, "--lsl", "X", "--lsl", "X", "--data-dir", str(missing)]) == 2
    capsys.readouterr()
    assert not missing.exists(), "an argument error must come before the data directory is touched"


def test_create_data_dir_flag_creates_then_checks_visit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "new" / "data"
    rc = cli_main([*RECORD, "--lsl", "NobodyPublishesThis", "--resolve-timeout", "0.2", "--data-dir", str(missing),
                   "--create-data-dir"])
    assert rc == 1  # the stream is not found; the directory was created for it
    assert "NobodyPublishesThis" in _one_line_err(capsys)
    assert missing.is_dir() and not (missing / ".open" / "ABC-001_D0").exists()


def test_help_lists_visit_codes_and_subject_format() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd").choices  # type: ignore[union-attr]
    for cmd in ("demo", "record", "abandon"):
        text = sub[cmd].format_help().replace("\n", " ")
        text = " ".join(text.split())
        for code in ("D0", "W4", "W12", "W24"):
            assert code in text, (cmd, code)
        assert "three capital letters, a dash, three digits, e.g. ABC-001" in text, cmd


def test_unknown_log_level_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--log-level", "VERBOSE", "verify", "."]) == 2
    assert "--log-level" in _one_line_err(capsys)
