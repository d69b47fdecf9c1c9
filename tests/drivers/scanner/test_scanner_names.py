"""The scanner driver never hands out a vendor file name: captures, events and log lines use aliases.

Vendor software names exports after the patient; the driver is where such a name is first seen, so it is where
it must stop (sessions/ never has to scrub what the driver emits).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from acquisition import log as acq_log
from drivers.scanner import ingest
from drivers.scanner.aliases import ALIAS_RE, alias_group, photo_keys
from drivers.scanner.naming import PHOTO_VIEWS, photo_view
from drivers.scanner.simulator import ScannerSimulator
from drivers.scanner.source import ScannerSource

from .conftest import Poller, fast_config

PATIENT = "DUPONT_Marie"


@contextlib.contextmanager
def _log() -> Iterator[io.StringIO]:
    """acquisition.log at DEBUG into a buffer. A logger keeps the configuration it was bound under: make the
    source inside the block."""
    buf = io.StringIO()
    acq_log.configure(level="DEBUG", json=True)
    try:
        with contextlib.redirect_stderr(buf):
            yield buf
    finally:
        acq_log.configure()


def _clean(text: str) -> bool:
    low = text.lower()
    return "dupont" not in low and "marie" not in low


def test_aliases_name_kind_and_capture_only() -> None:
    names = [f"{PATIENT}_rest_1.obj", f"{PATIENT}_rest_1.mtl", f"{PATIENT}_rest_1.png", f"{PATIENT}_rest_1.json",
             f"{PATIENT}_rest_1_landmarks.csv", f"{PATIENT}_rest_1.Marie", f"{PATIENT}_rest_1.OBJ"]
    a = alias_group(7, names, "mesh")
    assert a.label == "capture_7"
    assert a.by_name == {
        f"{PATIENT}_rest_1.OBJ": "capture_7/mesh.obj", f"{PATIENT}_rest_1.json": "capture_7/landmarks.json",
        f"{PATIENT}_rest_1.mtl": "capture_7/material.mtl", f"{PATIENT}_rest_1.obj": "capture_7/mesh_2.obj",
        f"{PATIENT}_rest_1.png": "capture_7/image.png", f"{PATIENT}_rest_1_landmarks.csv": "capture_7/landmarks.csv",
        f"{PATIENT}_rest_1.Marie": "capture_7/other",
    }
    assert all(ALIAS_RE.match(v) for v in a.by_name.values())
    with pytest.raises(KeyError):
        a.of("not_in_the_group.obj")  # never falls back to the name itself


def test_photos_are_keyed_by_view_or_index() -> None:
    names = [f"{PATIENT}_photo_frontal.png", f"{PATIENT}_photo_Front.jpg", f"{PATIENT}_photo_3-4_L.png",
             f"{PATIENT}_photo_profile_r.png", f"{PATIENT}_photo_Marie.png", f"{PATIENT}_photo.png"]
    assert photo_keys(names) == {
        names[0]: "frontal", names[1]: "frontal_2", names[2]: "three_quarter_left", names[3]: "profile_right",
        names[4]: "1", names[5]: "2",
    }
    a = alias_group(2, names, "photo")  # in sorted order, as the watcher hands groups out: 'Front' first
    assert a.of(names[1]) == "capture_2/photo_frontal.jpg" and a.of(names[0]) == "capture_2/photo_frontal_2.png"
    assert a.of(names[5]) == "capture_2/photo_1.png" and a.of(names[4]) == "capture_2/photo_2.png"
    assert all(a.of(n) == f"capture_2/photo_{a.photo_keys[n]}.{n.rsplit('.', 1)[1]}" for n in names)
    assert all(ALIAS_RE.match(v) and _clean(v) for v in a.by_name.values())


@pytest.mark.parametrize(("name", "view"), [
    ("P_photo_frontal.png", "frontal"), ("P_photos_face.jpg", "frontal"), ("P_photo_profile.png", "profile"),
    ("P_photo_profile_l.jpg", "profile_left"), ("P_photo_left-profile.jpg", "profile_left"),
    ("P_photo_three_quarter_r.png", "three_quarter_right"), ("P_photo_oblique_L.png", "three_quarter_left"),
    ("P_photo_frontal_2.png", "frontal"), ("P_photo_three_quarter.png", None), ("P_photo_Marie.png", None),
    ("P_photo_frontal_Marie.png", None), ("P_rest_1.png", None),
])
def test_photo_view_vocabulary(name: str, view: str | None) -> None:
    assert photo_view(name) == view
    assert view is None or view in PHOTO_VIEWS


def test_patient_named_exports_never_leave_the_driver(export_dir: Path) -> None:
    sim = ScannerSimulator(export_dir, write_mode="direct", face_kwargs={"n_around": 64, "n_rings": 24}, seed=1)
    with _log() as log:
        src = ScannerSource(fast_config(export_dir))
        src.open()
        poller = Poller(src)
        sim.write_capture("rest", 1, fmt="obj", stem=f"{PATIENT}_rest_1")
        sim.write_capture("rest", 2, fmt="obj", stem=f"{PATIENT}_rest_2", fault="missing_texture")
        sim.write_photos(prefix=PATIENT, views=("frontal", "profile", "Marie_smile"))
        (export_dir / f"{PATIENT}_notes.txt").write_text("x")
        assert poller.until(lambda: len(poller.captures) == 2 and src.counters()["captures_rejected"] == 2)
    caps = {c.scan_id: c for c in poller.captures}
    assert set(caps) == {"rest_1", "photo_1"}
    assert set(caps["photo_1"].photos) == {"frontal", "profile", "1"}
    for cap in caps.values():
        assert _clean(repr(cap.summary())) and _clean(repr([f.model_dump() for f in cap.source_files]))
        assert _clean(repr(sorted(cap.photos)))
    events = src.drain_events()
    assert {e.name for e in events} >= {"scan.ingested", "scan.rejected"}
    assert all(_clean(repr(e.model_dump())) for e in events), [e.payload for e in events]
    assert '"scan.ingested"' in log.getvalue() and '"scan.rejected"' in log.getvalue()
    assert [ln for ln in log.getvalue().splitlines() if not _clean(ln)] == []
    # the vendor's folder keeps its names, and the reason file maps them to the record's
    reason = (export_dir / "rejected" / f"{PATIENT}_rest_2.mtl.reason.txt").read_text()
    assert re.match(rf"capture_\d/material\.mtl \({PATIENT}_rest_2\.mtl\): a texture referenced by capture_\d/", reason)
    assert f"missing file: {PATIENT}_rest_2.png" in reason  # the name the MTL asks for, for the technician
    assert (export_dir / "ingested" / f"{PATIENT}_rest_1.obj").exists()


def test_an_unexpected_error_is_recorded_by_its_type_only(export_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The text of an exception from a parser bug may quote anything: the record and the log get its type."""
    def boom(*a: object, **k: object) -> None:
        raise RuntimeError(f"cannot handle /exports/{PATIENT}_rest_1.ply")

    monkeypatch.setattr(ingest, "parse_mesh", boom)
    sim = ScannerSimulator(export_dir, write_mode="direct", face_kwargs={"n_around": 64, "n_rings": 24})
    sim.write_capture("rest", 1, fmt="ply", landmarks="none", stem=f"{PATIENT}_rest_1")
    with _log() as log:
        src = ScannerSource(fast_config(export_dir))
        src.open()
        poller = Poller(src)
        assert poller.until(lambda: src.counters()["captures_rejected"] == 1)
    (ev,) = [e for e in src.drain_events() if e.name == "scan.rejected"]
    assert ev.payload["problem"] == "internal error while reading: RuntimeError" and _clean(repr(ev.payload))
    assert _clean(log.getvalue())
    reason = (export_dir / "rejected" / f"{PATIENT}_rest_1.ply.reason.txt").read_text()
    assert f"RuntimeError: cannot handle /exports/{PATIENT}_rest_1.ply" in reason


def test_an_os_error_is_logged_without_its_path(export_dir: Path, sim: ScannerSimulator,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(group: object) -> list[Path]:
        raise PermissionError(13, "Permission denied", str(export_dir / f"{PATIENT}_rest_1.stl"))

    sim.write_capture("rest", 1, fmt="stl", landmarks="none", stem=f"{PATIENT}_rest_1")
    with _log() as log:
        src = ScannerSource(fast_config(export_dir))
        src.open()
        monkeypatch.setattr(src.watcher, "move_ingested", denied)
        poller = Poller(src)
        assert poller.until(lambda: len(poller.captures) == 1)
    assert src.counters()["move_errors"] == 1
    lines = [ln for ln in log.getvalue().splitlines() if "scan.move_failed" in ln]
    assert len(lines) == 1 and "Permission denied" in lines[0] and _clean(lines[0])
    (ev,) = [e for e in src.drain_events() if e.name == "scan.ingested"]
    assert ev.payload["moved_to"] == "" and ev.payload["files_moved"] == 0


def test_the_export_folder_path_is_not_in_the_record(export_dir: Path, source: ScannerSource) -> None:
    assert source.identity is not None and source.identity.transport == "folder"
    export_dir.rename(export_dir.with_name("away"))
    source.poll()
    export_dir.with_name("away").rename(export_dir)
    source.poll()
    events = source.drain_events()
    assert [e.name for e in events if e.name.startswith("link.")] == ["link.disconnected", "link.reconnected"]
    assert all(str(export_dir) not in repr(e.model_dump()) for e in events)
