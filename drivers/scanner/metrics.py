"""Mesh boundary loops and mouth measurements.

The open-mouth fissure is a hole in the mesh: its boundary loop (trimesh `outline`) nearest the stomion is the
inner lip contour; its length is the inner mouth perimeter; its extent along the loop's major principal axis
is the hole's width; the 3-D gap between the two points where the loop crosses the mid-width plane is the
hole's aperture; its area is the shoelace area of the loop projected on its PCA plane. Landmarks give aperture = |sto_sup - sto_inf| and
width = |ch_r - ch_l| directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from drivers.scanner.capture import ScanMetrics


@dataclass(frozen=True, eq=False)
class Loop:
    points: np.ndarray  # (n,3), closed: the first point is not repeated at the end
    perimeter_mm: float

    @property
    def centroid(self) -> np.ndarray:
        return self.points.mean(axis=0)

    def distance_to(self, p: np.ndarray) -> float:
        return float(np.min(np.linalg.norm(self.points - p, axis=1)))


def boundary_loops(vertices: np.ndarray, faces: np.ndarray) -> list[Loop]:
    """Closed boundary loops of the mesh (edges used by one face), longest first."""
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    if mesh.is_watertight:
        return []
    path = mesh.outline()  # boundary edges chained into Line entities (no networkx needed for this part)
    loops: list[Loop] = []
    for entity in path.entities:
        pts = np.asarray(path.vertices[entity.points], dtype=np.float64)
        if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
            pts = pts[:-1]
        if len(pts) < 3:
            continue
        closed = np.vstack([pts, pts[:1]])
        loops.append(Loop(pts, float(np.linalg.norm(np.diff(closed, axis=0), axis=1).sum())))
    loops.sort(key=lambda lp: -lp.perimeter_mm)
    return loops


def stomion(landmarks: dict[str, tuple[float, float, float]] | None) -> np.ndarray | None:
    """Midpoint of sto_sup / sto_inf (or a single 'sto' landmark), None if absent."""
    if not landmarks:
        return None
    if "sto_sup" in landmarks and "sto_inf" in landmarks:
        return (np.asarray(landmarks["sto_sup"]) + np.asarray(landmarks["sto_inf"])) / 2.0
    if "sto" in landmarks:
        return np.asarray(landmarks["sto"], dtype=np.float64)
    return None


def loop_shape(loop: Loop) -> tuple[float, float, float]:
    """(width, aperture, area) of a mouth loop.

    width = extent along the loop's major PCA axis; aperture = 3-D distance between the two points where the
    closed polyline crosses the mid-width plane (the midline gap, like |sto_sup - sto_inf|), falling back to the
    extent along the minor axis if the loop does not cross it twice; area = shoelace area on the PCA plane.
    """
    pts = loop.points
    c = pts - loop.centroid
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    uv = c @ vt[:2].T
    u, v = uv[:, 0], uv[:, 1]
    width = float(np.ptp(u))
    area = 0.5 * abs(float(np.dot(u, np.roll(v, -1)) - np.dot(v, np.roll(u, -1))))
    u_mid = (float(u.max()) + float(u.min())) / 2.0
    nxt = np.roll(np.arange(len(u)), -1)
    du0, du1 = u - u_mid, u[nxt] - u_mid
    crossing = np.nonzero((du0 == 0) | (du0 * du1 < 0))[0]
    hits = []
    for i in crossing:
        if du0[i] == 0:
            hits.append((float(v[i]), pts[i]))
        else:
            f = du0[i] / (du0[i] - du1[i])
            hits.append((float(v[i] + f * (v[nxt[i]] - v[i])), pts[i] + f * (pts[nxt[i]] - pts[i])))
    if len(hits) >= 2:
        top = max(hits, key=lambda h: h[0])[1]
        bottom = min(hits, key=lambda h: h[0])[1]
        aperture = float(np.linalg.norm(top - bottom))
    else:
        aperture = float(np.ptp(v))
    return width, aperture, area


def measure(
    mouth: Loop | None, landmarks: dict[str, tuple[float, float, float]] | None
) -> ScanMetrics | None:
    """Metrics from the mouth loop (if any) and the landmarks (if any); None when neither gives anything."""
    fields: dict[str, float | int | None] = {}
    if mouth is not None:
        width, aperture, area = loop_shape(mouth)
        fields.update(
            inner_perimeter_mm=mouth.perimeter_mm,
            hole_width_mm=width,
            hole_aperture_mm=aperture,
            hole_area_mm2=area,
            hole_vertices=len(mouth.points),
        )
    if landmarks:
        if "sto_sup" in landmarks and "sto_inf" in landmarks:
            fields["landmark_aperture_mm"] = float(
                np.linalg.norm(np.subtract(landmarks["sto_sup"], landmarks["sto_inf"]))
            )
        if "ch_r" in landmarks and "ch_l" in landmarks:
            fields["landmark_width_mm"] = float(np.linalg.norm(np.subtract(landmarks["ch_r"], landmarks["ch_l"])))
    if not fields:
        return None
    return ScanMetrics(**fields)  # type: ignore[arg-type]
