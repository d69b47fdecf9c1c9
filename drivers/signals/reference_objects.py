"""Reference objects of known size for the scanner-scale calibration: a sphere and a gauge block, as meshes (mm).

- `sphere_cap`: the part of a sphere a scanner sees from the front (+z): an icosphere (trimesh, 4 subdivisions:
  2562 vertices) cut below z = -`cut` x radius, so the fit must work on a partial surface as it does on a real
  capture; the cut leaves one boundary loop (the scan's rim).
- `gauge_block`: a closed box of the given edge lengths, its faces subdivided (trimesh) so that it has the
  vertex count of a scan (1538 vertices).
Both are centred near the origin and turned by a fixed rotation (an object is never square to the scanner), with
Gaussian noise of `noise_mm` on every vertex (structured-light scanners: about 0.05-0.1 mm on a smooth surface).
The truth is the nominal size; the noise-free fit of either mesh gives it within 1e-3 mm.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

ReferenceShape = Literal["sphere", "block"]


class ReferenceMesh(BaseModel):
    """A reference object's mesh and its nominal size (`diameter_mm` for a sphere, `size_mm` for a block)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    shape: ReferenceShape
    vertices: np.ndarray
    faces: np.ndarray
    diameter_mm: float | None = None
    size_mm: tuple[float, float, float] | None = None


def _tilt() -> np.ndarray:
    from trimesh.transformations import euler_matrix

    return np.asarray(euler_matrix(0.3, -0.2, 0.5)[:3, :3])


def _finish(v: np.ndarray, noise_mm: float, seed: int) -> np.ndarray:
    v = v @ _tilt().T + np.array([3.0, -2.0, 1.0])
    if noise_mm:
        v = v + np.random.default_rng(seed).normal(0.0, noise_mm, v.shape)
    return v


def sphere_cap(diameter_mm: float = 100.0, *, cut: float = 0.3, noise_mm: float = 0.05, seed: int = 0) -> ReferenceMesh:
    """The front of a sphere of `diameter_mm` (faces whose centroid lies above z = -cut x r)."""
    import trimesh

    if not diameter_mm > 0 or not -1.0 < cut < 1.0:
        raise ValueError(f"need diameter_mm > 0 and -1 < cut < 1, got {diameter_mm!r}, {cut!r}")
    r = diameter_mm / 2.0
    m = trimesh.creation.icosphere(subdivisions=4, radius=r)
    keep = m.triangles_center[:, 2] > -cut * r
    m.update_faces(keep)
    m.remove_unreferenced_vertices()
    return ReferenceMesh(shape="sphere", vertices=_finish(np.asarray(m.vertices), noise_mm, seed),
                         faces=np.asarray(m.faces, dtype=np.int64), diameter_mm=float(diameter_mm))


def gauge_block(size_mm: tuple[float, float, float] = (100.0, 50.0, 25.0), *, noise_mm: float = 0.05,
                seed: int = 0) -> ReferenceMesh:
    """A closed box of edge lengths `size_mm`."""
    import trimesh

    if len(size_mm) != 3 or not all(s > 0 for s in size_mm):
        raise ValueError(f"a gauge block needs three positive edge lengths, got {size_mm!r}")
    m = trimesh.creation.box(extents=size_mm)
    for _ in range(4):
        m = m.subdivide()
    m.merge_vertices()
    return ReferenceMesh(shape="block", vertices=_finish(np.asarray(m.vertices), noise_mm, seed),
                         faces=np.asarray(m.faces, dtype=np.int64),
                         size_mm=(float(size_mm[0]), float(size_mm[1]), float(size_mm[2])))
