"""The simulator's own contract: formats, faults fire where they make sense, part files renamed, truth recorded."""

from __future__ import annotations

import json
from pathlib import Path

from drivers.common.faults import FaultSwitchboard
from drivers.scanner.loaders import parse_mesh
from drivers.scanner.simulator import ScannerSimulator

from .conftest import SMALL_FACE


def test_missing_texture_waits_for_an_obj_capture(tmp_path: Path) -> None:
    faults = FaultSwitchboard()
    faults.arm("missing_texture")  # type: ignore[arg-type]
    sim = ScannerSimulator(tmp_path, write_mode="direct", face_kwargs=SMALL_FACE, faults=faults)
    assert sim.write_capture("rest", 1, fmt="ply").fault is None
    rec = sim.write_capture("rest", 2, fmt="obj")
    assert rec.fault == "missing_texture"
    assert {p.suffix for p in rec.files} == {".json", ".mtl", ".obj"}
    assert b"map_Kd SIM01_rest_2.png" in (tmp_path / "SIM01_rest_2.mtl").read_bytes()


def test_part_mode_leaves_only_final_names_and_truth(tmp_path: Path) -> None:
    sleeps: list[float] = []
    sim = ScannerSimulator(tmp_path, write_mode="part", pieces=4, piece_delay_s=0.01, face_kwargs=SMALL_FACE,
                           sleep=sleeps.append)
    rec = sim.write_capture("max_opening", 3, fmt="stl", landmarks="csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sim_truth.jsonl", "SIM01_max_opening_3.stl",
                                                          "SIM01_max_opening_3_landmarks.csv"]
    assert len(sleeps) >= 3  # pieces were written with pauses
    parsed = parse_mesh(rec.files[-1].name, rec.files[-1].read_bytes())
    assert len(parsed.vertices) == 64 * 24
    truth = json.loads((tmp_path / ".sim_truth.jsonl").read_text())
    assert truth["truth"]["aperture_mm"] == rec.truth["aperture_mm"] > 29
