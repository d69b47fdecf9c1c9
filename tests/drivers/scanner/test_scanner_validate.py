"""Parsing and validation: every kind of broken file gives ScanRejected naming the file and the problem;
good exports of the generator's face measure its known mouth within 0.5 mm from the hole alone."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.scanner import writers
from drivers.scanner.errors import ScanRejected
from drivers.scanner.loaders import parse_landmarks, parse_mesh, sniff_image
from drivers.scanner.metrics import measure
from drivers.scanner.validate import ValidationLimits, validate_mesh
from drivers.signals.face import face_mesh

LIMITS = ValidationLimits()


def _export(fmt: str, face) -> bytes:  # type: ignore[no-untyped-def]
    if fmt == "obj":
        return writers.obj_text(face.vertices, face.faces, uv=writers.planar_uv(face.vertices), mtllib=None,
                                capture_utc="2026-11-25T12:00:00.000000Z")
    if fmt == "ply":
        return writers.ply_bytes(face.vertices, face.faces, face.colours, capture_utc="2026-11-25T12:00:00.000000Z")
    return writers.stl_bytes(face.vertices, face.faces, capture_utc="2026-11-25T12:00:00.000000Z")


def _check(name: str, data: bytes, **kw):  # type: ignore[no-untyped-def]
    p = parse_mesh(name, data)
    return p, validate_mesh(name, p.vertices, p.faces, limits=LIMITS, declared_vertices=p.declared_vertices, **kw)


@pytest.mark.parametrize("fmt", ["obj", "ply", "stl"])
@pytest.mark.parametrize("condition,aperture,width", [("max_opening", 31.5, 44.0), ("max_lip_stretch", 9.0, 57.0)])
def test_hole_metrics_match_generator_truth(fmt: str, condition: str, aperture: float, width: float) -> None:
    face = face_mesh(condition=condition, aperture_mm=aperture, mouth_width_mm=width, seed=7)
    parsed, check = _check(f"x.{fmt}", _export(fmt, face))
    assert parsed.header_utc == "2026-11-25T12:00:00.000000Z"
    assert check.mouth is not None and check.rim is not None and check.small_holes == 0
    m = measure(check.mouth, None)
    assert m is not None
    assert m.inner_perimeter_mm == pytest.approx(face.truth.inner_perimeter_mm, abs=0.5)
    assert m.hole_aperture_mm == pytest.approx(face.truth.aperture_mm, abs=0.5)
    assert m.hole_width_mm == pytest.approx(face.truth.mouth_width_mm, abs=0.5)
    assert m.hole_area_mm2 == pytest.approx(face.truth.aperture_area_mm2, rel=0.02)
    if fmt == "ply":
        assert parsed.colours is not None and (parsed.colours[:, :3] == face.colours).all()
    if fmt == "obj":
        assert parsed.uv is not None and parsed.uv.shape == (len(face.vertices), 2)


def test_landmarks_pick_the_mouth_loop_and_give_exact_metrics() -> None:
    face = face_mesh(condition="max_opening", aperture_mm=25.0, mouth_width_mm=48.0, seed=2)
    _, check = _check("x.ply", _export("ply", face), landmarks=face.landmarks)
    m = measure(check.mouth, face.landmarks)
    assert m is not None
    assert m.aperture_mm == pytest.approx(face.truth.aperture_mm, abs=1e-3)
    assert m.mouth_width_mm == pytest.approx(face.truth.mouth_width_mm, abs=1e-3)
    assert m.inner_perimeter_mm == pytest.approx(face.truth.inner_perimeter_mm, abs=0.5)


def test_sealed_rest_face_has_no_mouth_hole() -> None:
    face = face_mesh(condition="rest", seed=1)
    _, check = _check("x.obj", _export("obj", face), landmarks=face.landmarks)
    assert check.mouth is None and check.rim is not None
    m = measure(check.mouth, face.landmarks)
    assert m is not None and m.inner_perimeter_mm is None and m.landmark_aperture_mm == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def face():  # type: ignore[no-untyped-def]
    return face_mesh(condition="max_opening", seed=3, n_around=64, n_rings=24)


def _rejects(name: str, data: bytes, match: str, *, file: str = "", **kw) -> ScanRejected:  # type: ignore[no-untyped-def]
    with pytest.raises(ScanRejected, match=match) as e:
        _check(name, data, **kw)
    assert e.value.file == (file or name)
    assert e.value.problem and e.value.file in str(e.value)
    return e.value


@pytest.mark.parametrize("fmt", ["obj", "ply", "stl"])
def test_empty_and_garbage(fmt: str) -> None:
    _rejects(f"a.{fmt}", b"", "file is empty")
    rng = np.random.default_rng(0)
    _rejects(f"a.{fmt}", rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(), ".")


def test_truncated_files_are_named_as_such(face) -> None:  # type: ignore[no-untyped-def]
    obj = _export("obj", face)
    _rejects("a.obj", obj[: int(len(obj) * 0.8)], r"last line 'f 3' is cut short")
    cut = obj[: obj.rindex(b"\n", 0, int(len(obj) * 0.8)) + 1]  # cut at a line end: the face list is short
    _rejects("a.obj", cut, r"mesh is torn: \d+ vertices where boundaries meet")
    cut = obj[: obj.index(b"\nf ") + 1 + 200]  # only a few faces survive
    _rejects("a.obj", cut, r"only \d+ faces|used by no face")
    ply = _export("ply", face)
    _rejects("a.ply", ply[: int(len(ply) * 0.7)], r"cannot parse|truncated")
    stl = _export("stl", face)
    _rejects("a.stl", stl[: int(len(stl) * 0.7)], r"binary STL declares \d+ triangles")


def test_wrong_units_guesses_the_factor(face) -> None:  # type: ignore[no-untyped-def]
    metres = face.vertices / 1000.0
    e = _rejects("m.ply", writers.ply_bytes(metres, face.faces, None, capture_utc="x"), "wrong units")
    assert "metres (x1000 gives 200 mm)" in e.problem
    cm = face.vertices / 10.0
    e = _rejects("c.ply", writers.ply_bytes(cm, face.faces, None, capture_utc="x"), "wrong units")
    assert "centimetres" in e.problem


def test_nan_vertices(face) -> None:  # type: ignore[no-untyped-def]
    v = face.vertices.copy()
    v[[5, 9]] = np.nan
    _rejects("n.obj", writers.obj_text(v, face.faces, uv=None, mtllib=None, capture_utc="x"), "2 vertices have NaN")


def test_vertex_count_limits(face) -> None:  # type: ignore[no-untyped-def]
    data = _export("ply", face)
    p = parse_mesh("a.ply", data)
    with pytest.raises(ScanRejected, match=r"1536 vertices, outside the accepted range \[2000, 2000000\]"):
        validate_mesh("a.ply", p.vertices, p.faces, limits=ValidationLimits(min_vertices=2000))


def test_an_extra_hole_is_refused_small_holes_are_warned(face) -> None:  # type: ignore[no-untyped-def]
    # remove the faces of a ring band away from the mouth: a second medium hole
    f = face.faces
    centroid = face.vertices[f].mean(axis=1)
    near = np.linalg.norm(centroid[:, :2] - np.array([30.0, 35.0]), axis=1)
    _rejects("h.ply", writers.ply_bytes(face.vertices, f[near > 9.0], None, capture_utc="x"), "unexpected hole")
    # a tiny hole: one face removed
    one = int(np.argmin(near))
    p = parse_mesh("s.ply", writers.ply_bytes(face.vertices, np.delete(f, one, axis=0), None, capture_utc="x"))
    check = validate_mesh("s.ply", p.vertices, p.faces, limits=ValidationLimits(small_hole_max_perimeter_mm=40.0))
    assert check.small_holes == 1 and "1 small hole" in check.warnings[0]
    with pytest.raises(ScanRejected, match="small holes"):
        validate_mesh("s.ply", p.vertices, p.faces, limits=ValidationLimits(small_hole_max_perimeter_mm=40.0,
                                                                            max_small_holes=0))


def test_landmarks_off_the_mesh(face) -> None:  # type: ignore[no-untyped-def]
    lms = dict(face.landmarks)
    lms["sto_sup"] = (0.0, 500.0, 0.0)
    e = _rejects("a.ply", _export("ply", face), "landmarks off the mesh", landmarks=lms, landmark_file="a.json",
                 file="a.json")
    assert "sto_sup" in e.problem


def test_landmark_files_json_and_csv() -> None:
    lm, meta = parse_landmarks("a.json", b'{"condition": "rest", "repetition": 2, "landmarks": {"ch_r": [1, 2, 3]}}')
    assert lm == {"ch_r": (1.0, 2.0, 3.0)} and meta == {"condition": "rest", "repetition": 2}
    lm, _ = parse_landmarks("a.csv", b"name,x,y,z\nch_l,-1,2.5,3\n")
    assert lm == {"ch_l": (-1.0, 2.5, 3.0)}
    for name, data, match in [
        ("a.json", b"{not json", "invalid JSON"),
        ("a.json", b'{"ch_r": [1, 2]}', "need 3 finite"),
        ("a.json", b'{"ch_r": [1, "x", 2]}', "not numbers"),
        ("a.csv", b"ch_r,1,2\n", "expected name,x,y,z"),
        ("a.csv", b"\xff\xfe\x00", "not UTF-8"),
    ]:
        with pytest.raises(ScanRejected, match=match):
            parse_landmarks(name, data)


def test_images_must_be_complete() -> None:
    png = writers.png_bytes(np.zeros((4, 4, 3), dtype=np.uint8))
    assert sniff_image("t.png", png) == "png"
    with pytest.raises(ScanRejected, match="IEND"):
        sniff_image("t.png", png[:-6])
    with pytest.raises(ScanRejected, match="not a PNG or JPEG"):
        sniff_image("t.png", b"hello")
    assert sniff_image("p.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20 + b"\xff\xd9") == "jpeg"
    with pytest.raises(ScanRejected, match="EOI"):
        sniff_image("p.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20)
