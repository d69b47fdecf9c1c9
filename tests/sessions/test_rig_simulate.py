"""`amuse-acq rig simulate` as a real process: its first line is the rig file's path, `rig check` finds every
device of that file (the tracker included) with the fault asked for, SIGTERM stops the simulators and removes
their folder; a file that is not a simulated rig's is never overwritten."""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from sessions.cli import main as cli_main
from sessions.rig.config import load_rig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "sessions" / "rig" / "example-rig.toml"


def test_rig_simulate_serves_its_rig_file_until_sigterm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim-rig.toml"
    proc = subprocess.Popen([sys.executable, "-m", "sessions.cli", "rig", "simulate", "--out", str(out),
                             "--fault", "emg_a:bad_crc=3", "--seed", "4"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 90)
        assert ready, "rig simulate printed nothing within 90 s"
        assert proc.stdout is not None and proc.stdout.readline().rstrip("\n") == str(out)
        cfg = load_rig(out)
        assert cfg.simulated and cfg.jaw is not None and cfg.jaw.port is not None
        workdir = Path(cfg.jaw.port).parents[1]
        assert (workdir / "dev" / "bitalino_a").exists() and (workdir / "scanner_export").is_dir()
        simulators = psutil.Process(proc.pid).children(recursive=True)
        assert len(simulators) >= 2  # the two groups of simulators (and multiprocessing's helper, if any)

        assert cli_main(["rig", "check", "--rig", str(out)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[-1] == "rig check: all 5 devices of rig 'simulated' found and as expected (simulated rig)"
        heads = {line.split(":")[0]: line for line in lines if not line.startswith(" ")}
        assert sorted(heads) == ["emg_a", "emg_b", "jaw", "plate", "rig check", "scanner"]
        assert "since open: " in heads["emg_a"] and "since open" not in heads["emg_b"]  # --fault reached emg_a only
        assert heads["jaw"].startswith("jaw: NDI Aurora, serial P6-00417, ") and "link up" in heads["jaw"]
        assert any(line.startswith("  jaw_incisal: ") for line in lines)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    _, alive = psutil.wait_procs(simulators, timeout=20)
    assert alive == [], "simulators outlived rig simulate"
    assert not workdir.exists(), "the simulators' folder was left behind"
    assert load_rig(out).simulated  # the rig file stays where it was asked for


def test_rig_simulate_never_overwrites_a_site_rig_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "rig.toml"
    shutil.copy(EXAMPLE, site)
    before = site.read_text()
    assert cli_main(["rig", "simulate", "--out", str(site)]) == 2
    assert capsys.readouterr().err.strip() == (f"amuse-acq: error: rig simulate: --out {site}: exists and is not a "
                                               "simulated rig file; not overwritten")
    assert site.read_text() == before
    assert cli_main(["rig", "simulate", "--out", str(tmp_path / "no" / "rig.toml")]) == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.parametrize(("fault", "why"), [
    ("emg_a:wrong_units", "unknown fault 'wrong_units' for emg_a"),
    ("aurora:bad_crc", "DEVICE one of emg_a, emg_b, jaw, plate, scanner"),
    ("bad_crc", "expected DEVICE:NAME[=COUNT]"),
    ("plate:stall=0", "fault count must be >= 1"),
])
def test_a_fault_no_simulator_implements_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    fault: str, why: str) -> None:
    assert cli_main(["rig", "simulate", "--out", str(tmp_path / "r.toml"), "--fault", fault]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0]
    assert not (tmp_path / "r.toml").exists()
