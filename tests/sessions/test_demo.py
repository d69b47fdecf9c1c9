"""The demo visit end to end (accelerated): every instrument through its wire-level simulator into one sealed file."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from acquisition.config import AcqSettings
from acquisition.visitfile.verify import verify_file
from sessions.cli import main as cli_main
from sessions.demo import next_demo_subject, run_demo


def test_demo_visit_w4_sealed_and_complete(tmp_path: Path) -> None:
    settings = AcqSettings(data_dir=tmp_path, compaction_interval_s=0.5)
    lines: list[str] = []
    sealed = run_demo(settings, visit="W4", speed=4.0, progress=lines.append)
    assert sealed.path == tmp_path / "SIM-001_W4.h5"
    assert verify_file(sealed.path).ok
    with h5py.File(sealed.path, "r") as f:
        assert bool(f.attrs["simulated"]) and f.attrs["visit"] == "W4"
        streams = set(f["streams"])
        assert {"emg_a", "emg_b", "jaw_incisal", "jaw_tools", "plate_raw", "cop"} <= streams
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
