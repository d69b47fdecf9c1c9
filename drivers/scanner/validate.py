"""Checks a parsed face mesh must pass before it is accepted. Each failure is a `ScanRejected(file, problem)`.

Boundary policy (documented in docs/devices.md): a face scan is accepted when it is
- watertight (a closed, hole-filled model), or
- an open face shell: at most one *rim* loop (the scan's outer edge: forehead, ears, neck; perimeter
  >= `rim_min_perimeter_mm`), at most one *mouth* loop (the open fissure: the loop nearest the stomion when
  landmarks are given, else the one loop between the small-hole and rim sizes), and at most
  `max_small_holes` small holes (perimeter <= `small_hole_max_perimeter_mm`: nostrils, eye corners, hair),
  which are accepted with a warning.
Anything else (a second large hole, a torn mesh, a truncated face list that leaves unused vertices) is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drivers.scanner.errors import ScanRejected
from drivers.scanner.metrics import Loop, boundary_loops, stomion

__all__ = ["ScanRejected", "ValidationLimits", "MeshCheck", "validate_mesh", "guess_units"]


class ValidationLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_vertices: int = Field(default=1_000, ge=3)
    max_vertices: int = Field(default=2_000_000, ge=3)
    min_faces: int = Field(default=1_000, ge=1)
    min_extent_mm: float = Field(default=80.0, gt=0, description="largest bbox side of a face scan, mm")
    max_extent_mm: float = Field(default=400.0, gt=0)
    max_unreferenced_fraction: float = Field(default=0.01, ge=0, le=1)
    rim_min_perimeter_mm: float = Field(default=300.0, gt=0)
    small_hole_max_perimeter_mm: float = Field(default=20.0, ge=0)
    max_small_holes: int = Field(default=20, ge=0)
    mouth_max_distance_mm: float = Field(default=15.0, gt=0, description="mouth loop to stomion, mm")
    landmark_max_distance_mm: float = Field(default=10.0, gt=0, description="landmark to nearest vertex, mm")
    max_file_bytes: int = Field(default=1 << 30, gt=0, description="larger files are refused before reading")
    max_boundary_junctions: int = Field(
        default=20, ge=0, description="vertices where more than two boundary edges meet (torn / missing faces)"
    )


@dataclass
class MeshCheck:
    """What validation found besides pass/fail: the mouth loop (if any) and non-fatal warnings."""

    mouth: Loop | None = None
    rim: Loop | None = None
    small_holes: int = 0
    warnings: list[str] = field(default_factory=list)


#: unit factors to mm and their names, to guess what a wrongly scaled export was written in
_UNITS = ((1000.0, "metres"), (10.0, "centimetres"), (25.4, "inches"), (0.001, "micrometres"))


def guess_units(extent: float, limits: ValidationLimits) -> str:
    """Human sentence about which unit would make `extent` a plausible face size."""
    guesses = [
        f"{unit} (x{factor:g} gives {extent * factor:.0f} mm)"
        for factor, unit in _UNITS
        if limits.min_extent_mm <= extent * factor <= limits.max_extent_mm
    ]
    return "looks like " + " or ".join(guesses) if guesses else "no common unit makes it face-sized"


def validate_mesh(
    name: str,
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    limits: ValidationLimits,
    landmarks: dict[str, tuple[float, float, float]] | None = None,
    landmark_file: str = "",
    declared_vertices: int | None = None,
) -> MeshCheck:
    """Run every check; raise ScanRejected naming the first problem found."""
    nv, nf = len(vertices), len(faces)
    if nv == 0 or nf == 0:
        raise ScanRejected(name, f"empty mesh ({nv} vertices, {nf} faces)")
    finite = np.isfinite(vertices)
    if not finite.all():
        bad = int((~finite.all(axis=1)).sum())
        raise ScanRejected(name, f"{bad} vertices have NaN or infinite coordinates")
    if faces.min() < 0 or faces.max() >= nv:
        raise ScanRejected(name, f"faces reference vertex {int(faces.max())} but there are {nv} vertices")
    used = np.zeros(nv, dtype=bool)
    used[faces.ravel()] = True
    total = max(nv, declared_vertices or 0)
    unused = int(total - used.sum())
    if unused > limits.max_unreferenced_fraction * total:
        raise ScanRejected(
            name,
            f"{unused} of {total} vertices ({100 * unused / total:.1f}%) are used by no face (face list truncated?)",
        )
    if not limits.min_vertices <= nv <= limits.max_vertices:
        raise ScanRejected(name, f"{nv} vertices, outside the accepted range [{limits.min_vertices}, {limits.max_vertices}]")
    if nf < limits.min_faces:
        raise ScanRejected(name, f"only {nf} faces (at least {limits.min_faces} expected)")
    extents = np.ptp(vertices, axis=0)
    ext = float(extents.max())
    if not limits.min_extent_mm <= ext <= limits.max_extent_mm:
        raise ScanRejected(
            name,
            f"wrong units: largest extent {ext:.4g} (bbox {extents[0]:.4g} x {extents[1]:.4g} x {extents[2]:.4g}) "
            f"is not a face in mm ({limits.min_extent_mm:g}-{limits.max_extent_mm:g}); {guess_units(ext, limits)}",
        )
    check = MeshCheck()
    if unused:
        check.warnings.append(f"{unused} unused vertices")
    if landmarks:
        _check_landmarks(landmark_file or name, vertices, landmarks, limits)
    _check_junctions(name, faces, nv, limits)
    _classify_loops(name, boundary_loops(vertices, faces), landmarks, limits, check)
    return check


def _check_junctions(name: str, faces: np.ndarray, nv: int, limits: ValidationLimits) -> None:
    """A clean shell's boundary vertices each have two boundary edges; missing faces make many more."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1).astype(np.int64)
    keys = edges[:, 0] * np.int64(nv) + edges[:, 1]  # one int64 per undirected edge: a fast 1-D unique
    uniq, counts = np.unique(keys, return_counts=True)
    once = uniq[counts == 1]
    degree = np.bincount(np.concatenate([once // nv, once % nv]), minlength=nv)
    junctions = int((degree > 2).sum())
    if junctions > limits.max_boundary_junctions:
        raise ScanRejected(
            name,
            f"mesh is torn: {junctions} vertices where boundaries meet (missing faces; truncated file?)",
        )


def _check_landmarks(
    name: str, vertices: np.ndarray, landmarks: dict[str, tuple[float, float, float]], limits: ValidationLimits
) -> None:
    pts = np.asarray(list(landmarks.values()), dtype=np.float64)
    # nearest-vertex distance, in blocks to bound memory on 2 M vertex meshes
    best = np.full(len(pts), np.inf)
    for i in range(0, len(vertices), 200_000):
        d = np.linalg.norm(vertices[i : i + 200_000, None, :] - pts[None, :, :], axis=2).min(axis=0)
        best = np.minimum(best, d)
    far = [(k, float(d)) for k, d in zip(landmarks, best) if d > limits.landmark_max_distance_mm]
    if far:
        desc = ", ".join(f"{k} {d:.1f} mm" for k, d in far)
        raise ScanRejected(
            name, f"landmarks off the mesh (wrong units or wrong file?): {desc} from the nearest vertex"
        )


def _classify_loops(
    name: str,
    loops: list[Loop],
    landmarks: dict[str, tuple[float, float, float]] | None,
    limits: ValidationLimits,
    check: MeshCheck,
) -> None:
    if not loops:
        return  # watertight
    sto = stomion(landmarks)
    rest = list(loops)
    if sto is not None:
        near = [lp for lp in rest if lp.distance_to(sto) <= limits.mouth_max_distance_mm
                and lp.perimeter_mm < limits.rim_min_perimeter_mm]
        if near:
            check.mouth = min(near, key=lambda lp: lp.distance_to(sto))
            rest.remove(check.mouth)
    big = [lp for lp in rest if lp.perimeter_mm >= limits.rim_min_perimeter_mm]
    if len(big) > 1:
        raise ScanRejected(
            name,
            f"{len(big)} large boundary loops (perimeters {', '.join(f'{lp.perimeter_mm:.0f}' for lp in big)} mm); "
            "a face scan has one outer rim (torn or truncated mesh?)",
        )
    if big:
        check.rim = big[0]
        rest.remove(big[0])
    medium = [lp for lp in rest if lp.perimeter_mm > limits.small_hole_max_perimeter_mm]
    if check.mouth is None and sto is None and len(medium) == 1:
        check.mouth = medium[0]
        rest.remove(medium[0])
        medium = []
    if medium:
        if check.mouth is not None:
            where = "besides the mouth"
        elif sto is not None:
            where = "and none of them is at the stomion"
        else:
            where = "and no landmarks to tell which one is the mouth"
        raise ScanRejected(
            name,
            f"{len(medium)} unexpected hole(s) {where} (perimeters "
            f"{', '.join(f'{lp.perimeter_mm:.1f}' for lp in medium)} mm > {limits.small_hole_max_perimeter_mm:g} mm)",
        )
    check.small_holes = len(rest)
    if len(rest) > limits.max_small_holes:
        raise ScanRejected(name, f"{len(rest)} small holes (at most {limits.max_small_holes} accepted)")
    if rest:
        check.warnings.append(f"{len(rest)} small hole(s) <= {limits.small_hole_max_perimeter_mm:g} mm")
