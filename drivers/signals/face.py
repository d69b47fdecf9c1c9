"""Synthetic face-like mesh (mm) whose mouth opening is a hole of KNOWN size, with vertex colours and landmarks.

Geometry. Coordinates: x to the SUBJECT's right (so ch_r has x > 0, as the jaw axes), y up, z forward (towards the
scanner); the face outline is an ellipse 140 x 200 mm centred at the origin, the mouth is centred at (0, -40).
The surface is a height field z = f(x, y) (half-ellipsoid + nose, eye sockets, chin and lip bulges; symmetric in x)
over a structured annulus in the (x, y) plane: ring 0 is the inner-lip contour x = a cos t, y = -40 + b sin t
(N points, t = 2 pi j / N; j = 0, N/4, N/2, 3N/4 are ch_r, sto_sup, ch_l, sto_inf), the last ring is the face
outline, rings in between interpolate along rays from the mouth centre. Quads are split into two triangles with
normals towards +z. So the mesh is a manifold with exactly two boundary loops (face outline + mouth hole).
Default resolution 320 x 120 = 38,400 vertices, 76,160 triangles; the rings are denser near the lips.

Truth. a = mouth_width_mm / 2, so |ch_r - ch_l| = mouth_width_mm exactly (f is symmetric in x). b is solved so that
the 3-D distance |sto_sup - sto_inf| = aperture_mm exactly (the upper lip sits more forward than the lower one, so
the purely vertical gap, truth.aperture_vertical_mm, is smaller: ~27.3 mm for 30 mm). inner_perimeter_mm is the
exact length of the closed polyline of the hole's boundary vertices (3-D), aperture_area_mm2 the area of that
polygon projected on its best-fit (PCA) plane. Seeded variation (feature amplitudes, 0.05-mm z jitter, colour
shading) never moves the hole or outline vertices, so the truth holds for every seed.

Conditions: "rest" = lips sealed by default (aperture 0): the upper and lower inner-lip vertices are merged into one
seam, so there is NO mouth hole (one boundary loop, the face outline), aperture_mm = inner_perimeter_mm = 0 and
has_mouth_hole = False. Passing aperture_mm > 0 with "rest" gives a slightly parted mouth (a slit hole).
"max_opening" defaults to aperture 30 mm / width 45 mm; "max_lip_stretch" to aperture 10 mm / width 55 mm."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import optimize

FACE_CONDITIONS: tuple[str, ...] = ("rest", "max_opening", "max_lip_stretch")
_DEFAULTS: dict[str, tuple[float, float]] = {  # condition -> (aperture_mm, mouth_width_mm)
    "rest": (0.0, 45.0),
    "max_opening": (30.0, 45.0),
    "max_lip_stretch": (10.0, 55.0),
}
FACE_HALF_W = 70.0
FACE_HALF_H = 100.0
MOUTH_Y = -40.0
UPPER_VERMILION_MM = 9.0
LOWER_VERMILION_MM = 10.0
SKIN_RGB = np.array([224, 172, 150])
LIP_RGB = np.array([172, 88, 96])


class FaceTruth(BaseModel):
    model_config = ConfigDict(frozen=True)

    condition: str
    aperture_mm: float  # |sto_sup - sto_inf| (3-D Euclidean distance; the lower lip also lies further back)
    aperture_vertical_mm: float  # y(sto_sup) - y(sto_inf) only
    mouth_width_mm: float  # |ch_r - ch_l| (3-D)
    inner_perimeter_mm: float  # length of the mouth hole's boundary loop (0 when sealed)
    aperture_area_mm2: float  # area of the hole polygon on its PCA plane (0 when sealed)
    has_mouth_hole: bool
    n_boundary_loops: int
    mouth_loop_vertices: list[int] = Field(repr=False)  # vertex indices of the hole boundary, in order


class FaceMesh(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    vertices: np.ndarray  # (V, 3) float64 mm
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from +z (outward normals)
    colours: np.ndarray  # (V, 3) uint8
    landmarks: dict[str, tuple[float, float, float]]  # ch_r, ch_l, sto_sup, sto_inf, ls, li (mm)
    truth: FaceTruth

    def to_trimesh(self) -> Any:
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, vertex_colors=self.colours, process=False)

    def to_obj_bytes(self) -> bytes:
        return to_obj_bytes(self)

    def to_ply_bytes(self) -> bytes:
        return to_ply_bytes(self)


def _height(x: np.ndarray, y: np.ndarray, a: float, b: float, amp: np.ndarray) -> np.ndarray:
    """Face height field z(x, y), mm; symmetric in x. ``amp`` scales the features (seeded, ~1)."""
    base = 85.0 * np.sqrt(np.clip(1.0 - (x / 80.0) ** 2 - (y / 112.0) ** 2, 0.0, None))
    nose = 26.0 * amp[0] * np.exp(-((x / 11.0) ** 2 + ((y - 8.0) / 26.0) ** 2))
    eyes = -8.0 * amp[1] * np.exp(-(((np.abs(x) - 32.0) / 14.0) ** 2 + ((y - 35.0) / 9.0) ** 2))
    chin = 6.0 * amp[2] * np.exp(-((x / 20.0) ** 2 + ((y + 85.0) / 12.0) ** 2))
    lips = 7.0 * amp[3] * np.exp(-((x / (a + 12.0)) ** 2 + ((y - MOUTH_Y) / (b + 16.0)) ** 2))
    return base + nose + eyes + chin + lips


def _ray_to_ellipse(cx: float, cy: float, phi: np.ndarray) -> np.ndarray:
    """Distance from (cx, cy) along angle phi to the face-outline ellipse."""
    dx, dy = np.cos(phi), np.sin(phi)
    A = (dx / FACE_HALF_W) ** 2 + (dy / FACE_HALF_H) ** 2
    B = 2 * (cx * dx / FACE_HALF_W**2 + cy * dy / FACE_HALF_H**2)
    C = (cx / FACE_HALF_W) ** 2 + (cy / FACE_HALF_H) ** 2 - 1.0
    return (-B + np.sqrt(B * B - 4 * A * C)) / (2 * A)


def face_mesh(
    *,
    condition: str = "max_opening",
    aperture_mm: float | None = None,
    mouth_width_mm: float | None = None,
    seed: int = 0,
    n_around: int = 320,
    n_rings: int = 120,
) -> FaceMesh:
    """Build the face mesh for ``condition``; ``aperture_mm``/``mouth_width_mm`` default per condition (see module)."""
    if condition not in FACE_CONDITIONS:
        raise ValueError(f"unknown face condition {condition!r}; expected one of {', '.join(FACE_CONDITIONS)}")
    d_ap, d_w = _DEFAULTS[condition]
    aperture = float(d_ap if aperture_mm is None else aperture_mm)
    width = float(d_w if mouth_width_mm is None else mouth_width_mm)
    if not (0.0 <= aperture <= 60.0):
        raise ValueError(f"aperture_mm must be within [0, 60] mm, got {aperture_mm!r}")
    if not (20.0 <= width <= 80.0):
        raise ValueError(f"mouth_width_mm must be within [20, 80] mm, got {mouth_width_mm!r}")
    if n_around % 4 or n_around < 16 or n_rings < 4:
        raise ValueError("n_around must be a multiple of 4 (>= 16) and n_rings >= 4")
    rng = np.random.default_rng(seed)
    amp = 1.0 + 0.05 * rng.uniform(-1, 1, 4)
    a = width / 2.0
    N, R = n_around, n_rings

    def gap(b: float) -> float:
        zs = _height(np.zeros(2), np.array([MOUTH_Y + b, MOUTH_Y - b]), a, b, amp)
        return float(np.hypot(2 * b, zs[0] - zs[1]) - aperture)

    b = 0.0 if aperture == 0 else optimize.brentq(gap, 0.0, aperture / 2.0 + 1e-9, xtol=1e-13, rtol=1e-15)

    t = 2 * np.pi * np.arange(N) / N
    inner = np.stack([a * np.cos(t), MOUTH_Y + b * np.sin(t)], axis=1)
    inner[N // 4, 0] = inner[3 * N // 4, 0] = 0.0  # exact midline stomia
    inner[N // 2, 1] = inner[0, 1] = MOUTH_Y
    phi = np.arctan2(max(b, 0.6 * a) * np.sin(t), a * np.cos(t))
    outer = np.stack([np.cos(phi), np.sin(phi)], axis=1) * _ray_to_ellipse(0.0, MOUTH_Y, phi)[:, None]
    outer[:, 1] += MOUTH_Y
    s = np.linspace(0.0, 1.0, R)
    g = 0.4 * s + 0.6 * s * s
    xy = inner[None, :, :] + g[:, None, None] * (outer - inner)[None, :, :]  # (R, N, 2)
    z = _height(xy[..., 0], xy[..., 1], a, b, amp)
    jitter = 0.05 * rng.standard_normal((R, N))
    jitter[0] = jitter[-1] = 0.0  # boundary vertices stay exact
    z = z + jitter
    verts = np.concatenate([xy, z[..., None]], axis=2).reshape(-1, 3)

    vid = np.arange(R * N).reshape(R, N)
    sealed = aperture == 0.0
    if sealed:  # merge lower inner-lip vertices onto the upper ones: the lips meet along one seam
        j = np.arange(N // 2 + 1, N)
        vid[0, j] = vid[0, N - j]
    jn = (np.arange(N) + 1) % N
    k = np.arange(R - 1)
    v00 = vid[k][:, np.arange(N)]
    v01 = vid[k][:, jn]
    v10 = vid[k + 1][:, np.arange(N)]
    v11 = vid[k + 1][:, jn]
    t1 = np.stack([v00, v10, v11], axis=-1)
    t2 = np.stack([v00, v11, v01], axis=-1)
    # the two inner quads that end at a commissure (coming from below) use the other diagonal: with sealed lips
    # the split above would put three vertices on the lip line (a zero-area triangle)
    for j in (N // 2 - 1, N - 1):
        t1[0, j] = (v00[0, j], v10[0, j], v01[0, j])
        t2[0, j] = (v10[0, j], v11[0, j], v01[0, j])
    faces = np.concatenate([t1.reshape(-1, 3), t2.reshape(-1, 3)])
    used = np.unique(faces)
    remap = np.full(R * N, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    faces = remap[faces].astype(np.int64)
    verts = verts[used]

    x, y = verts[:, 0], verts[:, 1]
    dy = y - MOUTH_Y
    vb = np.where(dy >= 0, b + UPPER_VERMILION_MM, b + LOWER_VERMILION_MM)
    lip = (x / (a + 3.0)) ** 2 + (dy / vb) ** 2 <= 1.0
    shade = rng.integers(-4, 5, size=(len(verts), 1))
    colours = np.clip(np.where(lip[:, None], LIP_RGB, SKIN_RGB) + shade, 0, 255).astype(np.uint8)

    def surf(px: float, py: float) -> tuple[float, float, float]:
        return (px, py, float(_height(np.array([px]), np.array([py]), a, b, amp)[0]))

    def vtx(j: int) -> tuple[float, float, float]:
        return tuple(float(c) for c in verts[remap[vid[0, j]]])  # type: ignore[return-value]

    landmarks = {
        "ch_r": vtx(0),
        "ch_l": vtx(N // 2),
        "sto_sup": vtx(N // 4),
        "sto_inf": vtx(3 * N // 4),
        "ls": surf(0.0, MOUTH_Y + b + UPPER_VERMILION_MM),
        "li": surf(0.0, MOUTH_Y - b - LOWER_VERMILION_MM),
    }
    if sealed:
        loop: list[int] = []
        perimeter = area = 0.0
    else:
        loop = [int(v) for v in remap[vid[0]]]
        ring = verts[loop]
        perimeter = float(np.sum(np.linalg.norm(np.roll(ring, -1, axis=0) - ring, axis=1)))
        centred = ring - ring.mean(axis=0)
        basis = np.linalg.svd(centred, full_matrices=False)[2][:2]
        p2 = centred @ basis.T
        area = float(0.5 * abs(np.dot(p2[:, 0], np.roll(p2[:, 1], -1)) - np.dot(p2[:, 1], np.roll(p2[:, 0], -1))))
    truth = FaceTruth(
        condition=condition,
        aperture_mm=float(np.linalg.norm(np.subtract(landmarks["sto_sup"], landmarks["sto_inf"]))),
        aperture_vertical_mm=float(landmarks["sto_sup"][1] - landmarks["sto_inf"][1]),
        mouth_width_mm=float(np.linalg.norm(np.subtract(landmarks["ch_r"], landmarks["ch_l"]))),
        inner_perimeter_mm=perimeter,
        aperture_area_mm2=area,
        has_mouth_hole=not sealed,
        n_boundary_loops=1 if sealed else 2,
        mouth_loop_vertices=loop,
    )
    return FaceMesh(vertices=verts, faces=faces, colours=colours, landmarks=landmarks, truth=truth)


def to_obj_bytes(mesh: FaceMesh) -> bytes:
    """Wavefront OBJ with per-vertex colour extension ``v x y z r g b`` (r, g, b in [0, 1]); 1-based faces."""
    buf = io.StringIO()
    buf.write("# amuse synthetic face mesh, units mm\n")
    vc = np.hstack([mesh.vertices, mesh.colours.astype(np.float64) / 255.0])
    np.savetxt(buf, vc, fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
    np.savetxt(buf, mesh.faces + 1, fmt="f %d %d %d")
    return buf.getvalue().encode("ascii")


def to_ply_bytes(mesh: FaceMesh) -> bytes:
    """Binary little-endian PLY: float32 x y z, uint8 red green blue per vertex; int32 vertex indices per face."""
    nv, nf = len(mesh.vertices), len(mesh.faces)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment amuse synthetic face mesh, units mm\n"
        f"element vertex {nv}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {nf}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    va = np.empty(nv, dtype=vdt)
    va["x"], va["y"], va["z"] = mesh.vertices.T
    va["r"], va["g"], va["b"] = mesh.colours.T
    fdt = np.dtype([("n", "u1"), ("i", "<i4", (3,))])
    fa = np.empty(nf, dtype=fdt)
    fa["n"] = 3
    fa["i"] = mesh.faces
    return header + va.tobytes() + fa.tobytes()
