"""`recover` is never blocked by one bad visit: each open visit on its own, garbage set aside untouched, a lock
per data dir and per visit, the real end time, no space in one line, every step of an interrupted seal finished."""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.visitfile.manifest import MANIFEST_NAME, read_manifest
from sessions.cli import main as cli_main
from sessions.recover import recover_all
from sessions.visit_store import DataDirBusy, VisitStore
from tests.acquisition.journal_builder import LAST_EVENT, LAST_SAMPLE, expected_data, flip, write_journal

REPO = Path(__file__).resolve().parents[2]
KEY = "ABC-001_D0"


def _crashed(data: Path, key: str = KEY, **kw: object) -> Path:
    """A visit folder as a killed recorder leaves it (claimed, lock released by the kernel, no close)."""
    data.mkdir(exist_ok=True)
    store = VisitStore(data)
    store.claim(key).release()
    subject, visit = key.rsplit("_", 1)
    write_journal(store.journal_dir(key), subject=subject, visit=visit, **kw)  # type: ignore[arg-type]
    return store.open_dir(key)


def _tree(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def _event_names(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return [n.decode() if isinstance(n, bytes) else n for n in f["events/table"]["name"]]


def _garbage(data: Path, key: str = "GRB-001_D0") -> Path:
    jdir = data / ".open" / key / "journal" / "meta"
    jdir.mkdir(parents=True)
    (jdir / "seg-000000.amj").write_bytes(np.random.default_rng(7).bytes(4096))
    return data / ".open" / key


def test_a_garbage_journal_is_set_aside_untouched_and_the_real_visit_is_sealed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    _crashed(data)
    garbage = _garbage(data)
    before = _tree(garbage)
    assert cli_main(["recover", str(data)]) == 1  # one visit could not be recovered
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"recovered: {data / (KEY + '.h5')}  sha256 ")
    aside = [line for line in out if line.startswith("set aside: GRB-001_D0 -> ")]
    assert len(aside) == 1 and "no readable visit record" in aside[0]
    assert not garbage.exists()
    moved = next((data / ".unrecoverable").glob("GRB-001_D0.*[0-9]Z"))
    assert _tree(moved) == before  # never written to: no new segment, no lock file, nothing
    note = json.loads((data / ".unrecoverable" / f"{moved.name}.json").read_text())
    assert "no readable visit record" in note["reason"]
    assert cli_main(["verify", str(data / (KEY + ".h5"))]) == 0
    assert not (data / ".open" / KEY).exists()


@pytest.mark.parametrize("state", ["folder_only", "journal_lock_only", "empty_segment", "torn_first_record"])
def test_a_visit_killed_before_its_first_record_is_set_aside_and_frees_its_code(tmp_path: Path, state: str) -> None:
    from tests.sessions.helpers import open_session

    data = tmp_path / "data"
    data.mkdir()
    store = VisitStore(data)
    store.claim(KEY).release()
    jdir = store.journal_dir(KEY)
    if state != "folder_only":
        jdir.mkdir()
        (jdir / "journal.lock").touch()
    if state in ("empty_segment", "torn_first_record"):
        (jdir / "meta").mkdir()
        (jdir / "meta" / "seg-000000.amj").write_bytes(b"" if state == "empty_segment" else b"AMJ1\x40\x00")
    [o] = recover_all(data)
    assert o.status == "set_aside", o.line()
    assert ("nothing was recorded" in o.reason) == (state != "torn_first_record")
    s = open_session(data, subject="ABC-001")  # the subject and visit code are free again
    s.close()


def test_closed_utc_is_the_last_record_and_the_recovery_time_is_kept_apart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _crashed(data)  # its samples outlast its last event by 1.75 s
    [o] = recover_all(data)
    assert o.status == "recovered"
    with h5py.File(o.sealed.path, "r") as f:  # type: ignore[union-attr]
        assert f.attrs["state"] == "recovered"
        closed = _dt.datetime.fromisoformat(f.attrs["closed_utc"].replace("Z", "+00:00"))
        last_sample = _dt.datetime.fromisoformat(LAST_SAMPLE.replace("Z", "+00:00"))
        assert abs((closed - last_sample).total_seconds()) < 1.0 and f.attrs["closed_utc"] > LAST_EVENT
        assert f.attrs["recovered_utc"] > LAST_SAMPLE and f.attrs["recovered_utc"].endswith("Z")
    assert _event_names(o.sealed.path).count("visit.recovered") == 1  # type: ignore[union-attr]


def test_a_journal_of_another_visit_is_never_sealed_under_this_name(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = VisitStore(data)
    store.claim("ABC-002_D0").release()
    write_journal(store.journal_dir("ABC-002_D0"), subject="ABC-001", visit="D0")
    [o] = recover_all(data)
    assert o.status == "set_aside" and "records visit ABC-001_D0, not ABC-002_D0" in o.reason
    assert not list(data.glob("*.h5"))


def test_a_visit_still_being_recorded_is_left_alone(tmp_path: Path) -> None:
    from tests.sessions.helpers import open_session, ramp_source

    data = tmp_path / "data"
    s = open_session(data, subject="REC-001")
    s.add_source(ramp_source())
    time.sleep(0.3)
    [o] = recover_all(data)
    assert o.status == "busy" and f"pid {os.getpid()}" in o.reason
    assert not (data / "REC-001_D0.h5").exists()
    sealed = s.close()
    assert _event_names(sealed.path).count("visit.recovered") == 0
    assert recover_all(data) == []


def test_no_space_is_one_line_and_the_journal_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import acquisition.journal.writer as jw

    data = tmp_path / "data"
    _crashed(data)

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(jw, "_write_all", full)
    assert cli_main(["recover", str(data)]) == 1
    cap = capsys.readouterr()
    [line] = [ln for ln in cap.out.splitlines() if ln.startswith("failed: ")]
    assert line.startswith(f"failed: {KEY}: no space left on device")
    assert "Traceback" not in cap.out + cap.err
    assert not (data / ".open" / KEY / f"{KEY}.h5.partial").exists()  # half-built file removed: room freed
    monkeypatch.undo()
    assert cli_main(["recover", str(data)]) == 0
    assert _event_names(data / f"{KEY}.h5").count("visit.recovered") == 1


def test_no_space_while_sealing_is_one_line_and_the_next_run_finishes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import acquisition.visitfile.seal as seal

    data = tmp_path / "data"
    _crashed(data)

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(seal, "append_manifest", full)
    assert cli_main(["recover", str(data)]) == 1
    cap = capsys.readouterr()
    assert f"failed: {KEY}: no space left on device" in cap.out and "Traceback" not in cap.out + cap.err
    monkeypatch.undo()
    assert cli_main(["recover", str(data)]) == 0
    assert "seal completed: " in capsys.readouterr().out
    assert list(read_manifest(data)) == [f"{KEY}.h5"]


# -- interrupted seal ---------------------------------------------------------------------------------------
def test_seal_makes_the_file_read_only_before_it_gets_its_sealed_name(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import acquisition.visitfile.seal as seal

    data = tmp_path / "data"
    _crashed(data)
    modes: list[int] = []
    real_link = os.link

    def link(src: str, dst: str) -> None:
        modes.append(os.stat(src).st_mode & 0o777)
        real_link(src, dst)

    monkeypatch.setattr(seal.os, "link", link)
    [o] = recover_all(data)
    assert o.status == "recovered" and modes == [0o444]


@pytest.mark.parametrize("mode", [0o644, 0o444])
@pytest.mark.parametrize("partial_link", [True, False])
@pytest.mark.parametrize("manifest_line", [True, False])
def test_recover_finishes_every_step_of_an_interrupted_seal(tmp_path: Path, mode: int, partial_link: bool,
                                                            manifest_line: bool) -> None:
    data = tmp_path / "data"
    _crashed(data)
    [o] = recover_all(data)
    assert o.sealed is not None
    final, digest = o.sealed.path, o.sealed.sha256
    # put the state back as a kill at that point of the seal would leave it
    shutil.move(str(o.sealed.journal_archive), str(data / ".open" / KEY))
    os.chmod(final, mode)
    if partial_link:
        os.link(final, data / ".open" / KEY / f"{KEY}.h5.partial")
    if not manifest_line:
        (data / MANIFEST_NAME).write_text("")
    mtime = final.stat().st_mtime_ns
    [o2] = recover_all(data)
    assert o2.status == "seal_completed", o2.line()
    st = final.stat()
    assert st.st_mode & 0o777 == 0o444
    assert st.st_nlink == 1  # no second link left in .sealed-journals/
    assert st.st_mtime_ns == mtime and o2.sealed is not None and o2.sealed.sha256 == digest
    assert (data / MANIFEST_NAME).read_text().splitlines() == [f"{digest}  {KEY}.h5"]
    assert not (data / ".open" / KEY).exists()
    assert not list((data / ".sealed-journals").rglob("*.h5.partial"))


# -- locks --------------------------------------------------------------------------------------------------
def test_a_claim_waits_for_recover_then_says_who_holds_the_data_dir(tmp_path: Path) -> None:
    store = VisitStore(tmp_path)
    with store.lock_data_dir():
        with pytest.raises(DataDirBusy, match=rf"locked by pid {os.getpid()} \(.*\) since 20"):
            store.claim(KEY, wait_s=0.2)
    store.claim(KEY).release()


_HOLDER = r"""
import sys, time
from pathlib import Path
from sessions.visit_store import VisitStore
lock = VisitStore(Path(sys.argv[1])).lock_data_dir()
print("locked", flush=True)
time.sleep(60)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_a_second_recover_says_who_holds_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _crashed(data)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(data)], cwd=REPO, env=_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        r = subprocess.run([sys.executable, "-m", "sessions.cli", "recover", str(data)], cwd=REPO, env=_env(),
                           capture_output=True, text=True, timeout=60)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert r.returncode == 1
    [line] = r.stderr.strip().splitlines()
    assert f"is locked by pid {holder.pid} (" in line and " since 20" in line
    assert (data / ".open" / KEY / "journal").is_dir() and not (data / f"{KEY}.h5").exists()


def test_two_recover_processes_at_once_seal_the_visit_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _crashed(data, streams={"emg": (8, 2000.0, 200_000)}, chunk=2000)
    cmd = [sys.executable, "-m", "sessions.cli", "recover", str(data)]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out, err))
    assert all("Traceback" not in out + err for _, out, err in results)
    winners = [r for r in results if r[0] == 0 and "recovered: " in r[1]]
    assert len(winners) == 1
    [(rc, out, err)] = [r for r in results if r is not winners[0]]
    assert (rc == 1 and "is locked by pid" in err) or (rc == 0 and "no open visit to recover" in out)
    assert _event_names(data / f"{KEY}.h5").count("visit.recovered") == 1
    assert list(read_manifest(data)) == [f"{KEY}.h5"]
    with h5py.File(data / f"{KEY}.h5", "r") as f:
        seq = f["streams/emg/device_seq"][:]
        assert np.array_equal(seq, np.arange(200_000))
        assert np.array_equal(f["streams/emg/data"][-5:], expected_data(seq[-5:], 8))


# -- a real recorder, killed, with one flipped bit in its journal metadata ------------------------------------
RECORDER = r"""
import sys, time
from pathlib import Path
from acquisition.config import AcqSettings
from sessions.manager import SessionManager
from sessions.subject import VisitIdentity
from tests.sessions.helpers import ramp_source
settings = AcqSettings(data_dir=Path(sys.argv[1]), create_data_dir=True, compaction_interval_s=0.2, lsl_outlets=False)
ident = VisitIdentity.checked(subject="KIL-001", visit="D0", operator="tech1", site="SIM")
s = SessionManager.open(settings, ident, simulated=True,
                        calibration=[{"id": "tare_plate", "device_serial": "P-1", "offset": [1.5]}])
s.add_source(ramp_source("emg", 4, 2000.0))
s.add_source(ramp_source("jaw", 2, 200.0))
print("recording", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def killed_visit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir of a real recorder SIGKILLed after about 1.5 s (built once, copied per test)."""
    data = tmp_path_factory.mktemp("killed") / "data"
    proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(data)], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "recording"
        time.sleep(1.5)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return data


@pytest.mark.parametrize("damage", ["first_meta_record", "emg_description_in_meta", "calibration_in_meta"])
def test_one_flipped_bit_in_a_real_journal_loses_no_sample_and_fails_the_qc(
        tmp_path: Path, killed_visit: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(killed_visit, data)
    jdir = data / ".open" / "KIL-001_D0" / "journal"
    flip(jdir / "meta", {"first_meta_record": 0, "calibration_in_meta": 1, "emg_description_in_meta": 2}[damage])
    assert cli_main(["recover", str(data)]) == 1  # sealed, but its QC failed: the operator must know
    out = capsys.readouterr().out
    assert "recovered: " in out and "JOURNAL DAMAGE, QC FAILED: " in out
    final = data / "KIL-001_D0.h5"
    assert cli_main(["verify", str(final)]) == 1  # intact, but never plain OK: its QC failed
    checked = capsys.readouterr().out.splitlines()
    assert checked[0].startswith("QC-FAILED  KIL-001_D0.h5: intact, but its journal lost or repaired records when "
                                 "it was built: ")
    assert not [ln for ln in checked if ln.startswith(("OK  ", "FAILED  "))]
    assert checked[-1].startswith("verify: QC-FAILED: 1 of 1 visit file(s) intact but QC-failed")
    assert cli_main(["inspect", str(final)]) == 0  # the file is intact; inspect shows what its journal lost
    shown = capsys.readouterr().out
    assert "  JOURNAL DAMAGE, QC FAILED: " in shown and "    repaired: " in shown
    with h5py.File(final, "r") as f:
        assert f.attrs["subject"] == "KIL-001"
        for name, c in (("emg", 4), ("jaw", 2)):
            seq = f[f"streams/{name}/device_seq"][:]
            assert len(seq) > 100 and np.array_equal(seq, np.arange(len(seq)))
            assert np.array_equal(f[f"streams/{name}/data"][:], expected_data(seq, c))
            assert json.loads(f[f"streams/{name}"].attrs["channels"]) == [f"c{i}" for i in range(c)]
        assert list(f["calibration"].attrs) == ["tare_plate"]
        qc = json.loads(f["qc"].attrs["journal_damage"])
        assert qc["ok"] is False and qc["bytes_skipped"]["meta"] > 0 and len(qc["repaired"]) == 1
