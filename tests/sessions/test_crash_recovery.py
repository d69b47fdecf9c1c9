"""SIGKILL a recorder mid-visit; `recover` seals a file holding every sample up to at most 1 s before the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.lslenv import local_clock
from sessions.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]

RECORDER = r"""
import sys, time
from pathlib import Path
from tests.sessions.helpers import open_session, ramp_source
s = open_session(Path(sys.argv[1]), subject="CRA-001")
s.add_source(ramp_source("emg", 16, 2000.0))
s.add_source(ramp_source("jaw", 6, 200.0))
s.start_step("emg_rest")
print("recording", flush=True)
time.sleep(600)
"""


def _kill_and_recover(tmp_path: Path, run_s: float) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(data)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "recording"
        time.sleep(run_s)
        t_kill = local_clock()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (data / ".open" / "CRA-001_D0").is_dir()

    assert cli_main(["recover", str(data)]) == 0
    final = data / "CRA-001_D0.h5"
    assert cli_main(["verify", str(data)]) == 0
    with h5py.File(final, "r") as f:
        assert f.attrs["state"] == "recovered"
        for name, c in (("emg", 16), ("jaw", 6)):
            seq = f[f"streams/{name}/device_seq"][:]
            t = f[f"streams/{name}/t_lsl"][:]
            data_ = f[f"streams/{name}/data"][:]
            # contiguous from the first sample, every value the right one
            assert np.array_equal(seq, np.arange(len(seq)))
            assert np.array_equal(data_, (seq[:, None] * c + np.arange(c)) % 2**31)
            # nothing older than 1 s before the kill is missing
            assert t[-1] >= t_kill - 1.0, f"{name}: last sample {t_kill - t[-1]:.3f} s before the kill"
        names = [n.decode() if isinstance(n, bytes) else n for n in f["events/table"]["name"]]
        assert "visit.recovered" in names


def test_sigkill_then_recover(tmp_path: Path) -> None:
    _kill_and_recover(tmp_path, 2.5)


@pytest.mark.soak
@pytest.mark.parametrize("run_s", [0.3, 1.1, 4.7, 12.0])
def test_sigkill_then_recover_soak(tmp_path: Path, run_s: float) -> None:
    _kill_and_recover(tmp_path, run_s)


def test_recover_completes_a_seal_interrupted_after_the_rename(tmp_path: Path) -> None:
    """Killed between 'file in place' and 'manifest + journal archive': recover finishes, rewrites nothing."""
    import shutil

    from acquisition.visitfile.manifest import MANIFEST_NAME, read_manifest
    from tests.sessions.helpers import open_session, ramp_source

    data = tmp_path / "data"
    s = open_session(data, subject="INT-001")
    s.add_source(ramp_source())
    time.sleep(0.3)
    sealed = s.close()
    # put the state back as it was just after the rename
    shutil.move(str(sealed.journal_archive), str(data / ".open" / "INT-001_D0"))
    (data / MANIFEST_NAME).write_text("")
    before = sealed.path.stat().st_mtime_ns
    assert cli_main(["recover", str(data)]) == 0
    assert read_manifest(data) == {"INT-001_D0.h5": sealed.sha256}
    assert sealed.path.stat().st_mtime_ns == before
    assert not (data / ".open" / "INT-001_D0").exists()
    assert cli_main(["verify", str(data)]) == 0
