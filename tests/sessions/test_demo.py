"""The demo visit end to end (accelerated): every instrument through its wire-level simulator into one sealed file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.config import AcqSettings
from acquisition.visitfile.manifest import read_manifest
from acquisition.visitfile.verify import verify_file
from sessions.cli import main as cli_main
from sessions.demo import next_demo_subject, run_demo


@pytest.mark.soak  # 34 s; the default run has its short version: test_visit_run's whole W4 on the same runner
def test_demo_visit_w4_sealed_and_complete(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path, compaction_interval_s=0.5)
    lines: list[str] = []
    sealed = run_demo(settings, visit="W4", speed=4.0, progress=lines.append)
    assert sealed.path == tmp_path / "SIM-001_W4.h5"
    assert verify_file(sealed.path).ok
    with h5py.File(sealed.path, "r") as f:
        assert bool(f.attrs["simulated"]) and f.attrs["visit"] == "W4"
        streams = set(f["streams"])
        assert {"emg_a", "emg_b", "jaw_incisal", "jaw_tools"} <= streams
        # the runner leaves the plate alone at W4 (no step uses it): it is neither opened nor recorded
        assert not {"plate_raw", "cop"} & streams
        for name in ("emg_a", "emg_b"):
            g = f["streams"][name]
            assert json.loads(g.attrs["device"])["simulated"] is True
            assert g["data"].shape[0] > 5000
            assert g["data"].dtype == np.uint16  # raw ADC codes, scale to µV beside them
            assert json.loads(g.attrs["scale"]) is not None
        steps = {r["step"].decode() for r in f["events/table"][:] if r["kind"].decode() == "step_start"}
        # W4 has no stabilometry (registry schedule)
        assert "jaw_max_opening" in steps and "stab_eyes_open" not in steps
        assert len(f["scans"]) == 10
        m = json.loads(f["scans/max_opening_1"].attrs["metrics"])
        assert abs(m["aperture_mm"] - 30.0) < 0.5
    assert any("sealed" not in ln and "device ok: aurora" in ln for ln in lines)


def test_demo_subject_is_never_reused(tmp_path: Path) -> None:
    assert next_demo_subject(tmp_path) == "SIM-001"
    (tmp_path / "SIM-001_D0.h5").write_bytes(b"")
    (tmp_path / ".open" / "SIM-002_W4").mkdir(parents=True)
    assert next_demo_subject(tmp_path) == "SIM-003"


def test_cli_refuses_bad_subject_before_anything(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    rc = cli_main(["demo", "--subject", "ABC-00\u0661", "--data-dir", str(tmp_path / "d")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "non-ASCII" in err[0]
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_demo_sigterm_seals_what_was_recorded(tmp_path: Path) -> None:
    """SIGTERM mid-visit: the demo stops stepping, seals, prints the sealed path and exits 143 (issue 7, 6).

    Run in a fresh directory without --data-dir, as on a fresh clone: the demo creates its default ./data.
    """
    import os
    import queue
    import signal
    import subprocess
    import sys
    import threading

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "AMUSE_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "sessions.cli", "demo", "--speed", "10"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    out: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for ln in proc.stdout:
            lines.put(ln.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        # wait (bounded) until the visit is open and every device records, then stop it a moment later
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                ln = lines.get(timeout=1.0)
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                continue
            out.append(ln)
            if ln.startswith("  device ok: scanner"):
                break
        else:
            raise AssertionError(f"the demo never finished its pre-flight: {out}")
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    reader.join(timeout=10)
    while not lines.empty():
        out.append(lines.get())
    err = proc.stderr.read() if proc.stderr else ""
    assert rc == 143, (rc, out, err)
    assert "Traceback" not in err
    sealed_lines = [ln for ln in out if ln.startswith("sealed: ")]
    assert len(sealed_lines) == 1, out
    path = Path(sealed_lines[0].removeprefix("sealed: "))
    assert path == (tmp_path / "data" / "SIM-001_D0.h5").resolve() and path.is_file()
    assert verify_file(path).ok
    assert read_manifest(path.parent).get(path.name) is not None
    assert not any((tmp_path / "data" / ".open").iterdir()), "an open visit was left behind"
    with h5py.File(path, "r") as f:
        assert f.attrs["state"] == "sealed"
        names = [n.decode() for n in f["events/table"]["name"]]
        assert "visit.stopped" in names
        steps = {r["step"].decode() for r in f["events/table"][:] if r["kind"].decode() == "step_start"}
        assert "preflight" in steps and "stab_eyes_closed" not in steps, "stepping went on after SIGTERM"
        assert f["streams/emg_a/data"].shape[0] > 0
