"""face_mesh: manifold with exactly the expected boundary loops, mouth hole of known size, files round-trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.signals.face import FACE_CONDITIONS, FaceMesh, face_mesh


def boundary_edges(faces: np.ndarray) -> np.ndarray:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(e, axis=0, return_counts=True)
    assert counts.max() <= 2, "an edge is shared by more than two faces (non-manifold)"
    return uniq[counts == 1]


def mouth_outline_length(fm: FaceMesh) -> tuple[int, float]:
    """(number of outline loops, length of the loop nearest the stomion midpoint) measured by trimesh."""
    path = fm.to_trimesh().outline()
    sto = (np.array(fm.landmarks["sto_sup"]) + np.array(fm.landmarks["sto_inf"])) / 2
    best = min(path.entities, key=lambda e: np.linalg.norm(path.vertices[e.points] - sto, axis=1).min())
    return len(path.entities), float(best.length(path.vertices))


def check_mesh(fm: FaceMesh) -> None:
    v, f = fm.vertices, fm.faces
    assert v.dtype == np.float64 and v.shape[1] == 3
    assert f.dtype == np.int64 and f.shape[1] == 3 and f.min() == 0 and f.max() == len(v) - 1
    assert fm.colours.dtype == np.uint8 and fm.colours.shape == v.shape
    assert len(np.unique(f)) == len(v)  # no unreferenced vertex
    m = fm.to_trimesh()
    assert m.is_winding_consistent
    assert not m.is_watertight  # an open shell: face outline (+ mouth)
    be = boundary_edges(f)
    # every boundary vertex has exactly two boundary edges -> boundary is a union of simple loops
    _, deg = np.unique(be, return_counts=True)
    assert (deg == 2).all()
    loops, length = mouth_outline_length(fm)
    assert loops == fm.truth.n_boundary_loops
    assert m.euler_number == 2 - loops  # disk (1 loop) or annulus (2 loops): no handles, no stray pieces
    # no fold-overs: every triangle is counter-clockwise in the x-y projection (normals towards the scanner, +z)
    a, b, c = v[f[:, 0], :2], v[f[:, 1], :2], v[f[:, 2], :2]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    assert cross.min() > 0
    if fm.truth.has_mouth_hole:
        assert abs(length - fm.truth.inner_perimeter_mm) < 0.5
        loop = np.array(fm.truth.mouth_loop_vertices)
        assert set(loop.tolist()) <= set(be.ravel().tolist())
        ring = v[loop]
        manual = np.linalg.norm(np.roll(ring, -1, axis=0) - ring, axis=1).sum()
        assert manual == pytest.approx(fm.truth.inner_perimeter_mm, abs=1e-9)
    lm = {k: np.array(p) for k, p in fm.landmarks.items()}
    assert set(lm) == {"ch_r", "ch_l", "sto_sup", "sto_inf", "ls", "li"}
    assert np.linalg.norm(lm["sto_sup"] - lm["sto_inf"]) == pytest.approx(fm.truth.aperture_mm, abs=1e-9)
    assert np.linalg.norm(lm["ch_r"] - lm["ch_l"]) == pytest.approx(fm.truth.mouth_width_mm, abs=1e-9)
    assert lm["ch_r"][0] > 0 > lm["ch_l"][0]  # x to the subject's right
    assert lm["ls"][1] > lm["sto_sup"][1] >= lm["sto_inf"][1] > lm["li"][1]


@pytest.mark.parametrize("condition", FACE_CONDITIONS)
def test_each_condition_is_a_valid_face_with_known_mouth(condition: str) -> None:
    fm = face_mesh(condition=condition)
    check_mesh(fm)
    assert 20_000 <= len(fm.vertices) <= 60_000
    ext = fm.vertices.max(axis=0) - fm.vertices.min(axis=0)
    assert ext[0] == pytest.approx(140.0, abs=1.0) and ext[1] == pytest.approx(200.0, abs=1.0)
    lip = fm.colours[:, 0].astype(int) - fm.colours[:, 1].astype(int) > 60
    m = fm.to_trimesh()
    lip_faces = lip[fm.faces].all(axis=1)
    assert 0.01 < m.area_faces[lip_faces].sum() / m.area < 0.1  # a lip-coloured region exists and is small
    lip_xy = fm.vertices[lip, :2]
    assert np.abs(lip_xy[:, 0]).max() < fm.truth.mouth_width_mm / 2 + 4
    assert lip_xy[:, 1].min() > fm.landmarks["li"][1] - 1 and lip_xy[:, 1].max() < fm.landmarks["ls"][1] + 1


def test_condition_defaults() -> None:
    rest, opened, stretch = (face_mesh(condition=c).truth for c in ("rest", "max_opening", "max_lip_stretch"))
    assert not rest.has_mouth_hole and rest.n_boundary_loops == 1
    assert rest.aperture_mm == 0 and rest.inner_perimeter_mm == 0
    assert opened.aperture_mm == pytest.approx(30.0) and opened.mouth_width_mm == pytest.approx(45.0)
    assert stretch.mouth_width_mm > opened.mouth_width_mm and stretch.aperture_mm < opened.aperture_mm
    assert opened.aperture_area_mm2 > stretch.aperture_area_mm2 > 0
    assert 0 < opened.aperture_vertical_mm < opened.aperture_mm


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(aperture=st.floats(1.0, 45.0), width=st.floats(30.0, 70.0), seed=st.integers(0, 2**16))
def test_requested_mouth_size_is_exact(aperture: float, width: float, seed: int) -> None:
    fm = face_mesh(
        condition="max_opening", aperture_mm=aperture, mouth_width_mm=width, seed=seed, n_around=160, n_rings=60
    )
    assert fm.truth.aperture_mm == pytest.approx(aperture, abs=1e-6)
    assert fm.truth.mouth_width_mm == pytest.approx(width, abs=1e-9)
    check_mesh(fm)
    # 2-D ellipse perimeter bounds (> 2 x width, < 2 x (width + aperture)); in 3-D the lips arch forward, +20 % max
    assert 2 * width < fm.truth.inner_perimeter_mm < 1.2 * 2 * (width + aperture)


def test_seed_changes_surface_not_truth() -> None:
    a, b, c = face_mesh(seed=1), face_mesh(seed=1), face_mesh(seed=2)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.colours, b.colours)
    assert not np.array_equal(a.vertices, c.vertices)
    assert a.truth.aperture_mm == pytest.approx(c.truth.aperture_mm)
    assert a.truth.mouth_width_mm == c.truth.mouth_width_mm


def test_ply_and_obj_round_trip_through_trimesh() -> None:
    fm = face_mesh(condition="max_lip_stretch")
    ply = trimesh.load(io.BytesIO(fm.to_ply_bytes()), file_type="ply", process=False)
    np.testing.assert_allclose(ply.vertices, fm.vertices, atol=1e-4)  # float32 on disk
    assert np.array_equal(ply.faces, fm.faces)
    assert np.array_equal(ply.visual.vertex_colors[:, :3], fm.colours)
    obj = trimesh.load(io.BytesIO(fm.to_obj_bytes()), file_type="obj", process=False)
    assert len(obj.vertices) == len(fm.vertices) and len(obj.faces) == len(fm.faces)
    np.testing.assert_allclose(obj.vertices, fm.vertices, atol=1e-5)
    reread = FaceMesh(vertices=ply.vertices.astype(np.float64), faces=ply.faces.astype(np.int64),
                      colours=fm.colours, landmarks=fm.landmarks, truth=fm.truth)  # fmt: skip
    assert mouth_outline_length(reread)[1] == pytest.approx(fm.truth.inner_perimeter_mm, abs=0.01)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown face condition"):
        face_mesh(condition="smile")
    with pytest.raises(ValueError, match="aperture_mm"):
        face_mesh(aperture_mm=-1)
    with pytest.raises(ValueError, match="mouth_width_mm"):
        face_mesh(mouth_width_mm=5)
