"""ScanCapture invariants and vendor-style OBJ with per-vertex colour."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from drivers.scanner.capture import ScanCapture
from drivers.scanner.loaders import parse_mesh
from drivers.signals.face import face_mesh

SHA = "0" * 64


def _cap(**kw):  # type: ignore[no-untyped-def]
    base = dict(scan_id="rest_1", condition="rest", repetition=1, capture_utc="2026-11-25T12:00:00.000000Z",
                t_lsl=1.0, source_files=[{"name": "capture_1/mesh.ply", "role": "mesh", "sha256": SHA, "bytes": 3}],
                vertices=np.zeros((3, 3)), faces=np.array([[0, 1, 2]]))
    base.update(kw)
    return ScanCapture(**base)


def test_capture_invariants() -> None:
    cap = _cap(colours=np.zeros((3, 4), dtype=np.uint8))
    assert cap.faces.dtype == np.int64 and cap.summary()["files"][0]["sha256"] == SHA
    with pytest.raises(ValidationError, match="out of range"):
        _cap(faces=np.array([[0, 1, 3]]))
    with pytest.raises(ValidationError, match="colours"):
        _cap(colours=np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ValidationError, match="photos and no mesh"):
        _cap(condition="photo")
    with pytest.raises(ValidationError):
        _cap(scan_id="Max Opening!")
    with pytest.raises(ValidationError):
        _cap(source_files=[{"name": "capture_1/mesh.ply", "role": "mesh", "sha256": "xyz", "bytes": 1}])


@pytest.mark.parametrize("name", ["a.ply", "DUPONT_Marie_rest_1.ply", "capture_1/DUPONT.ply", "capture_1/mesh.ply/x",
                                  "capture_1/photo_marie.png", "../capture_1/mesh.ply", "capture_1/mesh.DUPONT"])
def test_a_capture_cannot_carry_a_vendor_file_name(name: str) -> None:
    """Only the driver's aliases are file names a capture accepts (a vendor's name may be the patient's)."""
    with pytest.raises(ValidationError):
        _cap(source_files=[{"name": name, "role": "mesh", "sha256": SHA, "bytes": 3}])


@pytest.mark.parametrize("scan_id", ["dupont_1", "rest_1_dupont", "photo_marie", "rest", "rest_1_r2"])
def test_a_scan_id_is_condition_and_repetition_only(scan_id: str) -> None:
    with pytest.raises(ValidationError):
        _cap(scan_id=scan_id)


def test_photo_keys_are_views_or_indexes() -> None:
    photo = dict(condition="photo", scan_id="photo_1", vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=int))
    assert set(_cap(photos={"frontal": b"x", "frontal_2": b"y", "3": b"z"}, **photo).photos) == {"frontal",
                                                                                                "frontal_2", "3"}
    with pytest.raises(ValidationError, match="view or an index"):
        _cap(photos={"DUPONT_Marie_photo_frontal.png": b"x"}, **photo)


def test_obj_with_vertex_colours_keeps_them() -> None:
    face = face_mesh(seed=1, n_around=64, n_rings=24)
    parsed = parse_mesh("a.obj", face.to_obj_bytes())
    assert parsed.colours is not None
    assert (parsed.colours[:, :3] == face.colours).all()
    assert np.abs(parsed.vertices - face.vertices).max() < 1e-5
