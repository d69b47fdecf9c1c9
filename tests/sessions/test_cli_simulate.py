"""`amuse-acq simulate DEVICE` starts one simulator alone and prints the path it serves as its first line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("device", ["bitalino", "aurora", "cell-board", "balance-board", "scanner"])
def test_simulate_prints_served_path_first(device: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AMUSE_LOG_LEVEL": "ERROR"}
    args = [sys.executable, "-m", "sessions.cli", "simulate", device]
    if device == "scanner":
        args += ["--folder", str(tmp_path / "export")]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first, proc.stderr.read() if proc.stderr else ""
        assert os.path.exists(first), f"{device}: first line {first!r} is not a path that exists"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode in (0, -signal.SIGTERM)


def test_unknown_simulator_refused() -> None:
    res = subprocess.run([sys.executable, "-m", "sessions.cli", "simulate", "toaster"], cwd=REPO,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 2 and "invalid choice" in res.stderr
