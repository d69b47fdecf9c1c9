"""The deterministic replay (`sessions.replay`): a sealed visit recorded again through the session manager holds
the same samples, sequence numbers, times, gaps, scans and events; refused files leave DATA_DIR untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.replay.origin import file_sha256, replay_origin
from acquisition.visitfile.reader import (UnknownSchemaVersion, VisitFile, VisitFileDamaged, VisitFileError,
                                          VisitFileNotSealed)
from sessions.cli import main
from sessions.compare import compare_visits, describe_visit
from sessions.manager import SessionManager
from sessions.replay import ReplayRefused, replay_into
from sessions.session_errors import SessionError
from sessions.subject import VisitIdentity
from tests.acquisition.visit_files import read_only, writable
from tests.sessions.replay_originals import EMG_HOLE, TAIL, record_original, settings_for


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_original(tmp_path_factory.mktemp("orig"))


@pytest.fixture(scope="module")
def replayed(original: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replay_into(original, settings_for(tmp_path_factory.mktemp("rep")), subject="XYZ-123")


def _events(path: Path, **kw: object) -> list:
    with VisitFile.open(path) as vf:
        return vf.events(**kw)  # type: ignore[arg-type]


def test_replay_is_identical_to_the_original(original: Path, replayed: Path) -> None:
    result = compare_visits(original, replayed)
    assert result.identical, result.differences
    assert replayed.name == "XYZ-123_D0.h5"
    with VisitFile.open(original) as a, VisitFile.open(replayed) as b:
        assert b.identity.replay_of is not None
        # recorded under another subject: the SHA-256 alone, never the original's name (its pseudonym)
        assert b.identity.replay_of.file is None
        assert b.identity.replay_of.sha256 == file_sha256(original)
        assert a.identity.replay_of is None
        assert b.identity.simulated is a.identity.simulated is True
        assert b.identity.subject == "XYZ-123" and b.identity.operator == a.identity.operator
        for name in a.streams:
            sa, sb = a.streams[name], b.streams[name]
            assert sb.spec.dtype == sa.spec.dtype and sb.read().dtype == sa.read().dtype
            assert sb.read().tobytes() == sa.read().tobytes()
            assert np.array_equal(sb.device_seq(), sa.device_seq())
            assert sb.t_lsl().tobytes() == sa.t_lsl().tobytes()
            assert (sa.t_read() is None) == (sb.t_read() is None)
            if sa.t_read() is not None:
                assert sb.t_read().tobytes() == sa.t_read().tobytes()  # type: ignore[union-attr]
            # the device is the original's; the transport says it is a replay of that file
            assert sb.spec.device.serial == sa.spec.device.serial
            assert sb.spec.device.transport == f"replay sha256:{file_sha256(original)[:16]}"
            assert sb.spec.model_copy(update={"device": sa.spec.device}) == sa.spec
        assert list(b.scans) == list(a.scans)
        assert b.scans["rest_1"].stored_attrs == a.scans["rest_1"].stored_attrs
        assert [c.model_dump() for c in b.calibration] == [c.model_dump() for c in a.calibration]
        assert len(a.calibration) == 2
        # the calibration taken during the visit is recorded again at its time, with its batch
        (ca,), (cb,) = a.events(name="calibration.recorded"), b.events(name="calibration.recorded")
        assert (cb.t_lsl, cb.step, cb.payload) == (ca.t_lsl, ca.step, ca.payload)
        assert ca.payload["batch"] == 1 and ca.step == "scan_rest"
        assert b.outcomes == a.outcomes


def test_session_events_get_the_original_times_and_steps(original: Path, replayed: Path) -> None:
    keep = ("step.started", "step.ended", "source.started", "source.stopped", "note.set", "comment.added",
            "visit.closed", "visit.opened")

    def key(path: Path) -> list[tuple]:
        return sorted((e.t_lsl, e.kind, e.name, e.step, e.stream,
                       json.dumps({} if e.name == "visit.opened" else e.payload, sort_keys=True))
                      for e in _events(path) if e.name in keep and e.name != "source.started")

    assert key(replayed) == key(original)
    assert _events(replayed, name="visit.opened")[0].payload["subject"] == "XYZ-123"  # who: not compared
    assert len(key(original)) >= 12
    # the source stopped before the close keeps its own stop time and its drained count
    stops = {e.payload["source"]: e for e in _events(replayed, name="source.stopped")}
    (orig_stop,) = _events(original, name="source.stopped", stream="emg,jaw")
    # the tail the source held, plus what it had read by the time the session stopped it
    assert stops["scripted"].payload["drained_at_stop"] == orig_stop.payload["drained_at_stop"] >= TAIL
    assert stops["aux"].step == "scan_rest"


def test_replay_keeps_gaps_and_device_events(original: Path, replayed: Path) -> None:
    with VisitFile.open(original) as a, VisitFile.open(replayed) as b:
        gaps = b.streams["emg"].gaps
        assert gaps == a.streams["emg"].gaps
        assert [(g.after_seq, g.missing) for g in gaps] == [(EMG_HOLE[0] - 1, EMG_HOLE[1])]
        for name in ("samples.missing", "link.disconnected", "device.opened", "scan.ingested",
                     "stream.gap_rate_high"):
            ea = sorted((e.t_lsl, e.step, e.stream, json.dumps(e.payload)) for e in a.events(name=name))
            assert ea, f"the original has no {name}"
            assert sorted((e.t_lsl, e.step, e.stream, json.dumps(e.payload)) for e in b.events(name=name)) == ea
        assert b.qc["streams"] == a.qc["streams"]


def test_replay_is_deterministic(original: Path, replayed: Path, tmp_path: Path) -> None:
    again = replay_into(original, settings_for(tmp_path), subject="XYZ-124", operator="ci")
    assert describe_visit(again) == describe_visit(replayed) == describe_visit(original)
    assert compare_visits(replayed, again).identical


def _copy(original: Path, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    dst = where / original.name
    shutil.copy2(original, dst)
    return dst


def _tamper_sample(p: Path) -> None:
    writable(p)
    with h5py.File(p, "r+") as f:
        f["streams/emg/data"][10, 1] += 1  # the recorded block digests no longer match
    read_only(p)


def _tamper_attr(p: Path) -> None:
    writable(p)
    with h5py.File(p, "r+") as f:
        f.attrs["site"] = "XX"
    read_only(p)


def _unseal(p: Path) -> None:
    writable(p)
    with h5py.File(p, "r+") as f:
        f.attrs["state"] = "recording"


def _unknown_schema(p: Path) -> None:
    writable(p)
    with h5py.File(p, "r+") as f:
        f.attrs["schema_version"] = 99


@pytest.mark.parametrize("damage, error", [(_tamper_sample, VisitFileDamaged), (_tamper_attr, VisitFileDamaged),
                                           (_unseal, VisitFileNotSealed), (_unknown_schema, UnknownSchemaVersion)])
def test_refused_files_write_nothing(original: Path, tmp_path: Path, damage, error,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = _copy(original, tmp_path / "src")
    damage(bad)
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(error):
        replay_into(bad, settings_for(into))
    assert list(into.iterdir()) == []
    capsys.readouterr()
    assert main(["replay", str(bad), "--into", str(into), "--compare"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("amuse-acq: error: replay refused: ") and "Traceback" not in err
    assert bad.name in err
    assert list(into.iterdir()) == []


def test_production_mode_refuses_a_replay(original: Path, tmp_path: Path) -> None:
    with pytest.raises(ReplayRefused, match="production mode refuses to record a replay"):
        replay_into(original, settings_for(tmp_path, production=True))
    assert not any(tmp_path.iterdir())
    # the session manager itself refuses one, whoever asks, before it touches the data directory
    ident = VisitIdentity.checked(subject="ABC-002", visit="D0", operator="tech1", site="SIM")
    with pytest.raises(SessionError, match="never trial data"):
        SessionManager.open(settings_for(tmp_path / "p", production=True), ident, simulated=False,
                            replay_of=replay_origin(original))
    assert not (tmp_path / "p").exists()


def test_cli_replay_compare_and_compare(original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    into = tmp_path / "d"
    assert main(["replay", str(original), "--into", str(into), "--create-data-dir", "--subject", "CLI-001",
                 "--compare"]) == 0
    out = capsys.readouterr().out
    assert f"replayed: {(into / 'CLI-001_D0.h5').resolve()}" in out and "identical:" in out
    # a replay into the original's own directory under its own name is refused before anything is done
    assert main(["replay", str(original), "--into", str(original.parent)]) == 2
    assert "already recorded" in capsys.readouterr().err
    # compare names a difference per stream and exits 1
    other = _copy(original, tmp_path / "other")
    _tamper_sample(other)
    assert main(["compare", str(original), str(other)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("stream emg data: A sha256 ") for ln in lines)
    assert "stream emg data: first difference at row 10 (A has" in "\n".join(lines)
    assert lines[-1].startswith("different: 2 difference(s)")


def test_cli_refuses_mixed_options(original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(original), "--into", str(tmp_path), "--speed", "2"]) == 2
    assert "apply to --lsl" in capsys.readouterr().err
    assert main(["replay", str(original), "--lsl", "--subject", "ABC-009"]) == 2
    assert main(["replay", str(original)]) == 2
    assert main(["replay", str(original), "--into", str(tmp_path), "--lsl"]) == 2
    assert not any(tmp_path.iterdir())


def test_an_unreadable_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "ABC-001_D0.h5"
    junk.write_bytes(b"not hdf5" * 100)
    with pytest.raises(VisitFileError):
        replay_into(junk, settings_for(tmp_path / "into"))
    assert main(["replay", str(junk), "--into", str(tmp_path / "into"), "--create-data-dir"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "replay refused" in err
    assert not (tmp_path / "into").exists()


def test_a_source_started_twice_is_refused(original: Path, tmp_path: Path) -> None:
    from tests.acquisition.visit_files import recompute_tree

    forged = _copy(original, tmp_path / "src")
    writable(forged)
    with h5py.File(forged, "r+") as f:
        table = f["events/table"]
        for i, row in enumerate(table[:]):
            payload = json.loads(row["payload"])
            if row["name"].decode() == "source.started" and payload.get("source") == "aux":
                payload["source"] = "scripted"
                row["payload"] = json.dumps(payload)
                table[i] = row
    read_only(forged)
    recompute_tree(forged)
    with pytest.raises(ReplayRefused, match="'scripted' was started twice"):
        replay_into(forged, settings_for(tmp_path / "into"))
    assert not (tmp_path / "into").exists()


def test_a_pipeline_that_does_not_take_the_samples_fails_in_one_line(original: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sessions.replay as replay_mod
    from acquisition.replay.source import ReplaySource
    from sessions.replay import ReplayFailed

    monkeypatch.setattr(replay_mod, "SETTLE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(ReplaySource, "pending", lambda self: 7)
    with pytest.raises(ReplayFailed, match=r"scripted \(7 samples\) not taken by the session within 0.2 s"):
        replay_into(original, settings_for(tmp_path))
    # what was recorded is sealed (and says it is a replay), as an interrupted demo is
    with VisitFile.open(tmp_path / original.name) as vf:
        assert vf.identity.replay_of is not None


# -- privacy: the original's pseudonym never reaches a replay recorded under another subject ------------------
def test_a_replay_under_another_subject_holds_nothing_of_the_original_name(original: Path, replayed: Path) -> None:
    from tests.goldens.privacy_scan import identifying_text

    assert identifying_text(replayed, [original.stem, "ABC-001"]) == []
    transports = {d["transport"] for e in _events(replayed, name="source.started")
                  for d in e.payload.get("devices", ())}  # the scanner's names no device
    assert transports == {f"replay sha256:{file_sha256(original)[:16]}"}


def test_a_replay_under_the_original_identity_names_the_file(original: Path, tmp_path: Path) -> None:
    again = replay_into(original, settings_for(tmp_path), operator="ci")  # the operator is not the pseudonym
    with VisitFile.open(again) as vf:
        assert vf.identity.replay_of is not None
        assert vf.identity.replay_of.file == original.name
        assert vf.identity.replay_of.label == f"{original.name} sha256 {file_sha256(original)}"
    with h5py.File(again) as f:
        assert json.loads(f.attrs["replay_of"]) == {"file": original.name, "sha256": file_sha256(original)}


def test_inspect_says_a_file_is_a_replay(original: Path, replayed: Path) -> None:
    from sessions.inspect import summary_lines

    lines = summary_lines(replayed)
    (line,) = [ln for ln in lines if "REPLAY" in ln]
    assert line.strip() == f"REPLAY of sha256 {file_sha256(original)}: not trial data"
    assert not any("REPLAY" in ln for ln in summary_lines(original))


# -- far-off times: refused before anything is written, or skipped over -------------------------------------
def _forge_event(original: Path, where: Path, name: str, shift: float) -> Path:
    from tests.acquisition.visit_files import recompute_tree

    forged = _copy(original, where)
    writable(forged)
    with h5py.File(forged, "r+") as f:
        table = f["events/table"]
        for i, row in enumerate(table[:]):
            if row["name"].decode() == name:
                row["t_lsl"] += shift
                table[i] = row
                break
        else:
            raise AssertionError(f"no {name} event")
    read_only(forged)
    recompute_tree(forged)
    return forged


@pytest.mark.parametrize("name, shift", [("comment.added", 1e9), ("note.set", -1e9)])
def test_an_action_outside_the_visit_is_refused_before_anything_is_written(original: Path, tmp_path: Path,
                                                                          name: str, shift: float) -> None:
    forged = _forge_event(original, tmp_path / "src", name, shift)
    into = tmp_path / "into"
    with pytest.raises(ReplayRefused, match=rf"{name} at t=.* is outside the visit \[") as exc:
        replay_into(forged, settings_for(into))
    assert "\n" not in str(exc.value)
    assert not into.exists()  # no data directory, no `.open/` claim


def test_a_long_silence_is_jumped_over_not_ticked_through(original: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A visit closed 1e6 s after its last sample (200 000 ticks of 5 s) replays in a handful of clock moves."""
    from acquisition.replay.clock import ReplayClock

    forged = _forge_event(original, tmp_path / "src", "visit.closed", 1e6)
    moves = []
    real_advance = ReplayClock.advance

    def advance(self: ReplayClock, t: float) -> float:
        moves.append(t)
        if len(moves) > 5000:
            raise AssertionError("the replay ticks through the silence")
        return real_advance(self, t)

    monkeypatch.setattr(ReplayClock, "advance", advance)
    out = replay_into(forged, settings_for(tmp_path / "into"), subject="XYZ-125")
    assert len(moves) < 200
    (closed,) = _events(out, name="visit.closed")
    (orig_closed,) = _events(forged, name="visit.closed")
    assert closed.t_lsl == orig_closed.t_lsl
    assert compare_visits(forged, out).identical


def test_a_clock_that_cannot_move_fails_in_one_line_not_a_hang(original: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from acquisition.replay.clock import ReplayClock
    from sessions.replay import ReplayFailed

    calls = []

    def stuck(self: ReplayClock, t: float) -> float:  # what float rounding does to `now + 5 s` at t = 1e17
        calls.append(t)
        if len(calls) > 100_000:
            raise AssertionError("unbounded ticks")
        return self()

    monkeypatch.setattr(ReplayClock, "advance", stuck)
    with pytest.raises(ReplayFailed, match=r"the clock did not reach t=.* after \d+ moves") as exc:
        replay_into(original, settings_for(tmp_path))
    assert "\n" not in str(exc.value)
    assert len(calls) < 1000


# -- the CLI: quiet like demo and calibrate; its settings through the public helper ------------------------
def test_cli_replay_into_prints_no_info_logs(original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMUSE_LOG_LEVEL", raising=False)
    assert main(["replay", str(original), "--into", str(tmp_path / "q"), "--create-data-dir",
                 "--subject", "QUI-001"]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and "replayed: " in cap.out
    assert main(["--log-level", "INFO", "replay", str(original), "--into", str(tmp_path / "v"),
                 "--create-data-dir", "--subject", "QUI-002"]) == 0
    assert "replay.sealed" in capsys.readouterr().err


def test_replay_cli_uses_no_private_name_of_the_cli() -> None:
    import ast

    import sessions.replay_cli as mod

    tree = ast.parse(Path(mod.__file__).read_text())
    private = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names if a.name.startswith("_")]
    assert private == []
