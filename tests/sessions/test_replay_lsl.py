"""`replay FILE --lsl`: a sealed visit republished on LSL and recorded back by `amuse-acq record --lsl` loses no
sample, proven by the device_seq it carries in channel 0; unsealed or altered files are refused in one line;
SIGTERM stops a loop cleanly (exit 0, outlets closed)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from acquisition.lsl.inlet import record_name
from acquisition.replay.origin import file_sha256
from acquisition.visitfile.reader import VisitFile
from acquisition.visitfile.writer import VisitFileWriter
from sessions.cli import CliError
from sessions.cli import main as cli_main
from sessions.replay_lsl import run_lsl_replay
from tests.acquisition.visit_files import COP_ROWS, EMG_ROWS, flip_chunk_byte, make_visit

REPO = Path(__file__).resolve().parents[2]


def _args(file: Path, **kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"file": str(file), "speed": 1.0, "loop": False}
    return argparse.Namespace(**{**base, **kw})


def test_record_back_loses_no_sample(tmp_path: Path) -> None:
    """The issue's proof. The replay (10x) waits for a consumer on each stream, `amuse-acq record --lsl A --lsl B
    --seq-channel 0` records it, and the recorded file holds every original device_seq once, the same codes, the
    original holes and nothing else, with the original sample intervals / 10."""
    visit = make_visit(tmp_path / "orig")
    suffix = f"-replay-{uuid.uuid4().hex[:8]}"
    speed = 10.0
    lines: list[str] = []
    result: dict[str, object] = {}

    def play() -> None:
        try:
            result["rc"] = run_lsl_replay(_args(visit, speed=speed, wait_consumers=20.0, lsl_suffix=suffix),
                                          print_=lines.append)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    player = threading.Thread(target=play, name="replay-under-test")
    player.start()
    try:
        names = {s: f"amuse_{s}{suffix}" for s in ("emg_a", "cop")}
        rec = tmp_path / "rec"
        rc = cli_main(["record", "--lsl", names["emg_a"], "--lsl", names["cop"], "--seq-channel", "0",
                       "--resolve-timeout", "10", "--subject", "RPL-001", "--visit", "D0", "--operator", "ci",
                       "--duration", "3", "--data-dir", str(rec), "--create-data-dir"])
    finally:
        player.join(timeout=30)
    assert not player.is_alive() and result.get("rc") == 0, result
    assert rc == 0
    # it said what it published, first, and how to record it
    assert lines[0].startswith(f"replaying {visit.name} on LSL at speed 10")
    assert any(f"'{names['emg_a']}' (source_id 'T-emg_a{suffix}'): int32, 65 ch" in ln for ln in lines)
    assert any(ln.startswith("record it with: amuse-acq record") and "--seq-channel 0" in ln for ln in lines)
    with VisitFile.open(visit) as orig, VisitFile.open(rec / "RPL-001_D0.h5", verify="full") as got:
        for stream in ("emg_a", "cop"):
            o, g = orig.streams[stream], got.streams[record_name(names[stream])]
            assert np.array_equal(g.device_seq(), o.device_seq()), f"{stream}: every device_seq once, in order"
            data = g.read()
            assert np.array_equal(data[:, 0].astype(np.int64), g.device_seq())  # the recorder read channel 0
            assert np.array_equal(data[:, 1:], o.read().astype(data.dtype)), f"{stream}: the codes, unchanged"
            assert g.spec.channels == ("device_seq", *o.spec.channels)
            # the original holes, and only them
            assert [(x.after_seq, x.missing) for x in g.gaps] == [(x.after_seq, x.missing) for x in o.gaps]
            np.testing.assert_allclose(np.diff(g.t_lsl()), np.diff(o.t_lsl()) / speed, rtol=0, atol=1e-6)
        assert got.streams[record_name(names["emg_a"])].n_samples == EMG_ROWS
        assert got.streams[record_name(names["cop"])].samples_missing == 5 and \
            got.streams[record_name(names["cop"])].n_samples == COP_ROWS
        q = got.qc["streams"]
        assert q[record_name(names["emg_a"])]["missing_by_seq"] == 0
        # the record says what it is, from what the streams say (no --simulated was given)
        assert got.identity.simulated is True
        assert got.identity.replay_of is not None and got.identity.replay_of.file is None
        assert got.identity.replay_of.sha256 == file_sha256(visit)
        assert all(got.streams[n].spec.device.simulated for n in got.streams)
        assert all(got.streams[n].spec.device.transport.endswith(f" replay sha256:{file_sha256(visit)[:16]}")
                   for n in got.streams)


def test_unsealed_and_altered_files_are_refused_in_one_line(tmp_path: Path) -> None:
    # a complete file whose state never became sealed (a visit left by a crash), under its final name
    d = tmp_path / "unsealed"
    d.mkdir()
    partial = d / "ABC-002_D0.h5.partial"
    w = VisitFileWriter(partial, {"software_version": "t", "site": "SIM", "subject": "ABC-002", "visit": "D0",
                                  "operator": "t", "started_utc": "2026-01-01T00:00:00Z", "closed_utc": "",
                                  "state": "recording", "simulated": True, "config": "{}", "boot_id": "b"})
    w.finish({})
    partial.rename(d / "ABC-002_D0.h5")
    with pytest.raises(CliError) as exc:
        run_lsl_replay(_args(d / "ABC-002_D0.h5"))
    assert exc.value.code == 1 and "\n" not in str(exc.value)
    assert "replay refused: ABC-002_D0.h5: state is 'recording'" in str(exc.value)

    # one byte of samples flipped: only the full verification sees it
    altered = make_visit(tmp_path / "altered")
    flip_chunk_byte(altered, "streams/emg_a/data")
    with pytest.raises(CliError) as exc:
        run_lsl_replay(_args(altered))
    assert exc.value.code == 1 and "\n" not in str(exc.value)
    assert str(exc.value).startswith("replay refused: ABC-001_D0.h5: verification found")

    with pytest.raises(CliError, match="no such file"):
        run_lsl_replay(_args(tmp_path / "nope.h5"))
    with pytest.raises(CliError, match="--speed must be a number > 0"):
        run_lsl_replay(_args(altered, speed=0.0))


def test_sigterm_stops_a_loop_cleanly(tmp_path: Path) -> None:
    """`--loop` runs until SIGTERM, then closes its outlets and exits 0 with its summary."""
    visit = make_visit(tmp_path)
    suffix = f"-replay-{uuid.uuid4().hex[:8]}"
    code = ("import argparse, sys; from sessions.replay_lsl import run_lsl_replay; "
            f"sys.exit(run_lsl_replay(argparse.Namespace(file={str(visit)!r}, speed=5.0, loop=True, "
            f"lsl_suffix={suffix!r})))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "AMUSE_LOG_LEVEL": "WARNING"}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env)
    try:
        assert p.stdout is not None
        head = [p.stdout.readline() for _ in range(5)]  # the banner, 3 outlets, the record hint
        assert head[0].startswith("replaying ABC-001_D0.h5 on LSL at speed 5, in a loop"), head
        assert head[-1].startswith("record it with:"), head
        time.sleep(2.0)  # more than one pass (4 s / 5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("replay stopped after ") and "outlets closed" in last, out
    passes = int(last.split("after ")[1].split()[0])
    assert passes >= 1


def _cli_has_replay_lsl() -> bool:
    from sessions.cli_parser import build_parser

    try:
        build_parser(simulators=False).parse_args(["replay", "x.h5", "--lsl"])
    except SystemExit:
        return False
    return True


@pytest.mark.skipif(not _cli_has_replay_lsl(), reason="`replay FILE --lsl` not in the parser yet (replay_cli.py)")
def test_cli_refuses_an_altered_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    altered = make_visit(tmp_path / "altered")
    flip_chunk_byte(altered, "streams/emg_a/data")
    assert cli_main(["replay", str(altered), "--lsl", "--speed", "50"]) == 1
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amuse-acq: error: replay refused: ABC-001_D0.h5: verification")
    assert "replaying" not in cap.out  # nothing was published


def test_production_mode_refuses_to_record_a_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An LSL replay is never trial data: `record` in production refuses it in one line and claims no visit."""
    visit = make_visit(tmp_path / "orig")
    suffix = f"-replay-{uuid.uuid4().hex[:8]}"
    result: dict[str, object] = {}
    player = threading.Thread(target=lambda: result.setdefault("rc", run_lsl_replay(
        _args(visit, speed=20.0, wait_consumers=15.0, lsl_suffix=suffix), print_=lambda _: None)))
    player.start()
    rec = tmp_path / "rec"
    monkeypatch.setenv("AMUSE_PRODUCTION", "true")
    try:
        rc = cli_main(["record", "--lsl", f"amuse_emg_a{suffix}", "--seq-channel", "0", "--resolve-timeout", "10",
                       "--subject", "PRD-001", "--visit", "D0", "--operator", "ci", "--duration", "2",
                       "--data-dir", str(rec), "--create-data-dir"])
    finally:
        player.join(timeout=30)
    assert not player.is_alive() and result.get("rc") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert err[0] == (f"amuse-acq: error: production mode refuses LSL stream 'amuse_emg_a{suffix}': a replay of "
                      f"sha256 {file_sha256(visit)}, never trial data")
    assert not rec.exists() or sorted(p.name for p in rec.iterdir() if not p.name.startswith(".")) == []
    assert not (rec / ".open").exists() or list((rec / ".open").iterdir()) == []


def test_cli_lsl_suffix_names_every_outlet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two replays at once do not collide: `--lsl-suffix` goes into every name and source_id, markers included."""
    visit = make_visit(tmp_path)
    tag = uuid.uuid4().hex[:8]
    suffix = f"-replay-{tag}"
    for given in (tag, f"={suffix}"):
        opts = ["--lsl-suffix", given] if given == tag else [f"--lsl-suffix{given}"]
        assert cli_main(["replay", str(visit), "--lsl", "--speed", "100", *opts]) == 0
        out = capsys.readouterr().out
        assert f"emg_a -> LSL 'amuse_emg_a{suffix}' (source_id 'T-emg_a{suffix}')" in out
        assert f"events -> LSL 'amuse_visit_events{suffix}' (source_id 'amuse-visit_events{suffix}')" in out
    for bad in ("--lsl-suffix=", "--lsl-suffix=-live", "--lsl-suffix=a b", "--lsl-suffix=-replay-"):
        assert cli_main(["replay", str(visit), "--lsl", bad]) == 2
        assert "--lsl-suffix" in capsys.readouterr().err
    assert cli_main(["replay", str(visit), "--into", str(tmp_path / "x"), "--lsl-suffix", tag]) == 2
    assert "apply to --lsl" in capsys.readouterr().err
