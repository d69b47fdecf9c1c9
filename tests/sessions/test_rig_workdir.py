"""A SIGKILLed demo's rig folder does not stay behind: the next rig removes it, and never a live rig's."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessions import rig_workdir
from sessions.rig_workdir import rig_root, start_ticks, sweep_stale
from sessions.simulated_rig import SimulatedRig

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys, time
from sessions.simulated_rig import SimulatedRig
rig = SimulatedRig(seed=1).start()
(rig.scanner_folder / "DUPONT_Marie_rest_1.obj").write_text("v 0 0 0\\n")
print(rig.workdir, *(p.pid for p in rig._procs.values()), flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    return start_ticks(pid) is None


def _wait(pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def test_a_killed_rigs_folder_is_swept_by_the_next_rig() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 90)
        assert ready, "the child rig did not start within 90 s"
        first = proc.stdout.readline().split()  # type: ignore[union-attr]
        workdir, sims = Path(first[0]), [int(p) for p in first[1:]]
        assert workdir.parent == rig_root() and (workdir / "scanner_export").is_dir() and len(sims) == 2
        assert workdir not in sweep_stale()  # its owner is alive: left alone
        assert workdir.is_dir()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert workdir.is_dir()  # SIGKILL: no cleanup ran, the folder is still there...
    assert _wait(lambda: all(_gone(p) for p in sims), 20.0), "the simulators outlived the killed rig"
    rig = SimulatedRig(seed=2)  # ...until the next rig starts
    try:
        assert not workdir.exists()
        assert rig.workdir.parent == rig_root() and rig.workdir.is_dir()
    finally:
        rig.close()
    assert not rig.workdir.exists()  # and a closed rig leaves nothing


def test_sweep_judges_by_pid_and_start_time(tmp_path: Path) -> None:
    root = tmp_path / "rigs"
    root.mkdir(mode=0o700)
    me = os.getpid()
    mine = root / f"rig-{me}-{start_ticks(me)}-abc"
    recycled = root / f"rig-{me}-{(start_ticks(me) or 0) + 1}-abc"  # same pid, another process's start time
    dead = root / "rig-999999999-12345-abc"
    other = root / "not-a-rig"
    for d in (mine, recycled, dead, other):
        (d / "dev").mkdir(parents=True)
    assert sorted(sweep_stale(root)) == sorted([recycled, dead])
    assert mine.is_dir() and other.is_dir()


def test_a_root_open_to_others_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "rigs"
    root.mkdir()
    root.chmod(0o777)
    (root / "rig-999999999-1-abc").mkdir()
    assert sweep_stale(root) == []  # never deletes in a folder others can write into
    monkeypatch.setattr(rig_workdir, "rig_root", lambda: root)
    made = rig_workdir.create_workdir()
    try:
        assert made.parent != root and made.is_dir()
    finally:
        rig_workdir.remove_workdir(made)
