"""The export folder end to end: the simulator writes files, the source ingests, validates and moves them."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from drivers.common.faults import FaultSwitchboard
from drivers.scanner.simulator import SCANNER_FAULTS, ScannerSimulator
from drivers.scanner.source import ScannerSource

from .conftest import SMALL_FACE, Poller, fast_config


def _files(d: Path) -> set[str]:
    return {p.name for p in d.iterdir() if p.is_file() and not p.name.startswith(".")}


def test_good_captures_are_ingested_with_metrics_and_hashes(export_dir: Path, sim: ScannerSimulator,
                                                            source: ScannerSource) -> None:
    recs = [
        sim.write_capture("max_opening", 1, fmt="obj", landmarks="json"),
        sim.write_capture("max_opening", 2, fmt="ply", landmarks="csv"),
        sim.write_capture("max_lip_stretch", 1, fmt="stl", landmarks="none"),
        sim.write_capture("rest", 1, fmt="obj", landmarks="json"),
    ]
    written = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for r in recs for p in r.files}
    poller = Poller(source)
    assert poller.until(lambda: len(poller.captures) == 4)
    caps = {c.scan_id: c for c in poller.captures}
    assert set(caps) == {"max_opening_1", "max_opening_2", "max_lip_stretch_1", "rest_1"}
    for rec in recs:
        cap = caps[f"{rec.condition}_{rec.repetition}"]
        assert cap.condition == rec.condition and cap.repetition == rec.repetition
        assert cap.mesh_format == rec.fmt
        # the record names files by alias; the content hash ties each to the exact file now in ingested/
        assert sorted(f.sha256 for f in cap.source_files) == sorted(written[p.name] for p in rec.files)
        for f in cap.source_files:
            assert f.name.startswith("capture_") and rec.stem not in f.name
            (on_disk,) = [p for p in rec.files if written[p.name] == f.sha256]
            assert hashlib.sha256((export_dir / "ingested" / on_disk.name).read_bytes()).hexdigest() == f.sha256
        truth = rec.truth
        if truth["inner_perimeter_mm"] > 0:
            assert cap.metrics is not None
            assert cap.metrics.inner_perimeter_mm == pytest.approx(truth["inner_perimeter_mm"], abs=0.5)
            assert cap.metrics.hole_aperture_mm == pytest.approx(truth["aperture_mm"], abs=0.5)
            assert cap.metrics.aperture_mm == pytest.approx(truth["aperture_mm"], abs=0.5)
            assert cap.metrics.mouth_width_mm == pytest.approx(truth["mouth_width_mm"], abs=0.5)
        else:  # sealed lips at rest: no hole, aperture from the landmarks
            assert cap.metrics is not None and cap.metrics.inner_perimeter_mm is None
            assert cap.metrics.landmark_aperture_mm == pytest.approx(0.0, abs=1e-6)
    obj = caps["max_opening_1"]
    assert obj.texture is not None and obj.texture_format == "png" and obj.uv is not None
    assert obj.landmarks is not None and set(obj.landmarks) >= {"ch_r", "ch_l", "sto_sup", "sto_inf"}
    assert obj.condition_source == "sidecar" and obj.capture_time_source == "sidecar"
    assert caps["max_opening_2"].colours is not None and caps["max_opening_2"].condition_source == "filename"
    assert caps["max_lip_stretch_1"].capture_time_source == "header"
    assert _files(export_dir) == set()  # everything moved to ingested/, nothing left, nothing deleted
    assert _files(export_dir / "ingested") == set(written)
    events = source.drain_events()
    assert [e.name for e in events].count("scan.ingested") == 4
    assert all(e.kind == "scan" for e in events if e.name.startswith("scan."))
    assert [e.name for e in events if e.kind == "device"] == ["device.identity_unchecked"]
    assert source.counters()["captures_ingested"] == 4 and source.counters()["captures_rejected"] == 0


@pytest.mark.parametrize("fault", SCANNER_FAULTS)
def test_every_broken_capture_is_moved_aside_with_a_reason(export_dir: Path, source: ScannerSource,
                                                            fault: str) -> None:
    faults = FaultSwitchboard()
    faults.arm(fault)  # type: ignore[arg-type]
    sim = ScannerSimulator(export_dir, write_mode="direct", face_kwargs=SMALL_FACE, faults=faults)
    fmt = "obj" if fault in ("missing_texture", "nan") else "ply" if fault == "wrong_units" else "stl"
    rec = sim.write_capture("max_opening", 1, fmt=fmt)  # type: ignore[arg-type]
    assert rec.fault == fault and faults.fired(fault) == 1  # type: ignore[arg-type]
    poller = Poller(source)
    assert poller.until(lambda: source.counters()["captures_rejected"] == 1, timeout=10)
    assert poller.captures == []
    rejected = export_dir / "rejected"
    names = {p.name for p in rec.files}
    assert _files(export_dir) == set()
    assert {n for n in _files(rejected) if not n.endswith(".reason.txt")} == names  # nothing dropped
    ev = [e for e in source.drain_events() if e.name == "scan.rejected"]
    assert len(ev) == 1
    bad_file, problem = ev[0].payload["file"], ev[0].payload["problem"]
    assert bad_file.startswith("capture_1/") and problem and rec.stem not in repr(ev[0].payload)
    expected = {"truncated": "truncat|cut short|cannot parse|declares", "wrong_units": "wrong units",
                "empty": "empty", "garbage": "cannot parse|not a|binary", "nan": "NaN",
                "missing_texture": "texture .* is missing"}
    assert __import__("re").search(expected[fault], problem), problem
    for n in names:
        reason = (rejected / f"{n}.reason.txt").read_text()
        assert bad_file in reason and problem in reason
    assert source.counters()["files_rejected"] == len(names)


def test_half_written_file_is_waited_for(export_dir: Path, sim: ScannerSimulator) -> None:
    src = ScannerSource(fast_config(export_dir, stable_polls=3, reject_grace_s=3.0))
    src.open()
    face = sim.write_capture("max_opening", 1, fmt="ply", landmarks="none")  # a complete file, to copy slowly
    data = face.files[0].read_bytes()
    face.files[0].rename(export_dir.parent / "src.ply")
    target = export_dir / "P_max_opening_3.ply"
    done = threading.Event()
    progress: list[tuple[float, int]] = []

    def writer() -> None:
        with open(target, "wb") as fh:
            step = len(data) // 12
            for i in range(0, len(data), step):
                fh.write(data[i : i + step])
                fh.flush()
                progress.append((time.monotonic(), i + step))
                # a long pause in the middle (longer than the stability window, shorter than the grace)
                time.sleep(0.5 if i == 6 * step else 0.03)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    poller = Poller(src)
    seen_before_done: list[object] = []
    while not done.is_set():
        got = src.poll()
        if got:
            seen_before_done.extend(got)
        time.sleep(0.02)
    t.join()
    assert seen_before_done == []
    assert src.counters()["captures_rejected"] == 0
    assert src.counters()["parse_retries"] >= 1  # the paused half file was tried, failed, and waited for
    assert poller.until(lambda: len(poller.captures) == 1)
    cap = poller.captures[0]
    assert cap.source_files[0].sha256 == hashlib.sha256(data).hexdigest()
    assert cap.source_files[0].bytes == len(data) and cap.scan_id == "max_opening_3"
    assert src.counters()["captures_rejected"] == 0


def test_slow_simulator_and_part_files(export_dir: Path) -> None:
    src = ScannerSource(fast_config(export_dir))
    src.open()
    slow = ScannerSimulator(export_dir, write_mode="slow", pieces=6, piece_delay_s=0.02, face_kwargs=SMALL_FACE)
    part = ScannerSimulator(export_dir, write_mode="part", pieces=6, piece_delay_s=0.02, face_kwargs=SMALL_FACE,
                            subject="B")
    t = threading.Thread(target=lambda: (slow.write_capture("rest", 1, fmt="obj", order="mesh_first"),
                                         part.write_capture("rest", 2, fmt="obj")))
    t.start()
    poller = Poller(src)
    assert poller.until(lambda: len(poller.captures) == 2 and not t.is_alive())
    t.join()
    assert sorted(c.scan_id for c in poller.captures) == ["rest_1", "rest_2"]
    assert src.counters()["captures_rejected"] == 0
    assert src.counters()["partial_files_seen"] >= 1


def test_part_file_is_ignored_until_renamed(export_dir: Path, sim: ScannerSimulator, source: ScannerSource) -> None:
    rec = sim.write_capture("max_opening", 1, fmt="stl", landmarks="none")
    part = rec.files[0].with_name(rec.files[0].name + ".crdownload")
    rec.files[0].rename(part)
    poller = Poller(source)
    assert not poller.until(lambda: bool(poller.captures) or source.counters()["captures_rejected"] > 0, timeout=0.6)
    assert part.exists()
    part.rename(rec.files[0])
    assert poller.until(lambda: len(poller.captures) == 1)


def test_condition_from_step_or_unassigned(export_dir: Path, sim: ScannerSimulator, source: ScannerSource) -> None:
    sim.write_capture("max_opening", 1, fmt="ply", landmarks="none", stem="capture_0001")
    source.set_step("scan_max_lip_stretch", 30.0)
    poller = Poller(source)
    assert poller.until(lambda: len(poller.captures) == 1)
    assert poller.captures[0].scan_id == "max_lip_stretch_1" and poller.captures[0].condition_source == "step"
    source.set_step("emg_rest", 10.0)  # not a scanner step: no condition from it
    sim.write_capture("max_opening", 1, fmt="ply", landmarks="none", stem="capture_0002")
    assert poller.until(lambda: len(poller.captures) == 2)
    cap = poller.captures[1]
    assert cap.condition == "unassigned" and cap.scan_id == "unassigned_1"
    ev = [e for e in source.drain_events() if e.name == "scan.unassigned"]
    assert len(ev) == 1 and ev[0].step == "emg_rest"
    assert source.counters()["unassigned"] == 1


def test_same_name_twice_is_kept_not_overwritten(export_dir: Path, sim: ScannerSimulator,
                                                  source: ScannerSource) -> None:
    poller = Poller(source)
    sim.write_capture("rest", 2, fmt="stl", landmarks="none")
    assert poller.until(lambda: len(poller.captures) == 1)
    sim.write_capture("rest", 2, fmt="stl", landmarks="none")
    assert poller.until(lambda: len(poller.captures) == 2)
    assert [c.scan_id for c in poller.captures] == ["rest_2", "rest_2_dup2"]
    assert "already ingested" in poller.captures[1].warnings[0]
    ingested = export_dir / "ingested"
    assert (ingested / "SIM01_rest_2.stl").exists()
    sub = [p for p in ingested.iterdir() if p.is_dir()]
    assert len(sub) == 1 and (sub[0] / "SIM01_rest_2.stl").exists()
    assert source.counters()["duplicates"] == 1


def test_orphan_files_and_photos(export_dir: Path, sim: ScannerSimulator, source: ScannerSource) -> None:
    (export_dir / "notes_from_tech.txt").write_text("left eye closed")
    sim.write_photos(views=("frontal", "profile"))
    poller = Poller(source)
    assert poller.until(lambda: len(poller.captures) == 1 and source.counters()["captures_rejected"] == 1,
                        timeout=5)
    photo = poller.captures[0]
    assert photo.condition == "photo" and set(photo.photos) == {"frontal", "profile"}
    reason = (export_dir / "rejected" / "notes_from_tech.txt.reason.txt").read_text()
    assert "no mesh or photo set" in reason


def test_a_file_removed_before_reading_is_not_a_crash(export_dir: Path, sim: ScannerSimulator,
                                                       source: ScannerSource) -> None:
    rec = sim.write_capture("rest", 1, fmt="stl", landmarks="none")
    source.poll()
    os.unlink(rec.files[0])
    poller = Poller(source)
    assert not poller.until(lambda: bool(poller.captures), timeout=0.3)
    assert source.counters()["captures_rejected"] == 0


def test_late_landmark_file_is_rejected_with_an_explanation(export_dir: Path, sim: ScannerSimulator,
                                                             source: ScannerSource) -> None:
    rec = sim.write_capture("max_opening", 1, fmt="ply", landmarks="none")
    poller = Poller(source)
    assert poller.until(lambda: len(poller.captures) == 1)
    (export_dir / f"{rec.stem}_landmarks.csv").write_text("name,x,y,z\nch_r,1,2,3\n")
    assert poller.until(lambda: source.counters()["captures_rejected"] == 1, timeout=5)
    reason = (export_dir / "rejected" / f"{rec.stem}_landmarks.csv.reason.txt").read_text()
    assert "after its capture was ingested as 'max_opening_1'" in reason


def test_export_folder_lost_and_back_is_reported(export_dir: Path, source: ScannerSource) -> None:
    moved = export_dir.with_name("export_away")
    export_dir.rename(moved)
    assert source.poll() == [] and source.poll() == []
    moved.rename(export_dir)
    assert source.poll() == []
    names = [e.name for e in source.drain_events() if e.kind == "device"]
    assert names == ["device.identity_unchecked", "link.disconnected", "link.reconnected"]
    assert (source.counters()["disconnects"], source.counters()["reconnects"]) == (1, 1)


def test_oversized_file_is_refused_unread(export_dir: Path, sim: ScannerSimulator) -> None:
    from drivers.scanner.validate import ValidationLimits

    cfg = fast_config(export_dir).model_copy(update={"limits": ValidationLimits(max_file_bytes=1000)})
    src = ScannerSource(cfg)
    src.open()
    sim.write_capture("rest", 1, fmt="stl", landmarks="none")
    poller = Poller(src)
    assert poller.until(lambda: src.counters()["captures_rejected"] == 1)
    reason = (export_dir / "rejected" / "SIM01_rest_1.stl.reason.txt").read_text()
    assert "larger than the 1000-byte limit" in reason
