"""`ScanCapture`: one validated scanner capture (mesh + texture + landmarks, or a set of 2D photos).

The driver hands these to the session manager, which writes them under `/scans/<scan_id>` of the visit file.
Arrays are numpy (pydantic arbitrary types); shapes and dtypes are checked on construction.

No text of a vendor's file name can be carried: `scan_id` is `<condition>_<repetition>`, file names are the
driver's aliases (`capture_3/mesh.obj`, see `aliases`) and photo keys are views or indexes, all checked here,
so a capture that would put a patient-named export into the record cannot even be built.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.scanner.aliases import ALIAS_RE, PHOTO_KEY_RE

Condition = Literal["rest", "max_opening", "max_lip_stretch", "photo", "unassigned"]

#: the protocol's scan conditions, in protocol order (each x3)
SCAN_CONDITIONS: tuple[str, ...] = ("rest", "max_opening", "max_lip_stretch")


class SourceFile(BaseModel):
    """One file of the capture as it was read (the hash is of the exact bytes parsed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=ALIAS_RE.pattern, description="the driver's alias, e.g. 'capture_3/mesh.obj'")
    role: str = Field(description="mesh | material | texture | landmarks | sidecar | photo | other")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    mtime_utc: str = ""


class ScanMetrics(BaseModel):
    """Mouth measurements of one capture, with where each came from. mm / mm^2; None when not measurable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # from the mouth hole (boundary loop nearest stomion, or the largest inner loop without landmarks)
    inner_perimeter_mm: float | None = None
    hole_aperture_mm: float | None = None
    hole_width_mm: float | None = None
    hole_area_mm2: float | None = None
    hole_vertices: int | None = None
    # from landmarks: aperture = |sto_sup - sto_inf|, width = |ch_r - ch_l|
    landmark_aperture_mm: float | None = None
    landmark_width_mm: float | None = None
    method_version: str = "scanner-metrics-1"

    @property
    def aperture_mm(self) -> float | None:
        """Interlabial gap: landmarks if given, else the hole's extent across its minor axis."""
        return self.landmark_aperture_mm if self.landmark_aperture_mm is not None else self.hole_aperture_mm

    @property
    def mouth_width_mm(self) -> float | None:
        return self.landmark_width_mm if self.landmark_width_mm is not None else self.hole_width_mm


class ScanCapture(BaseModel):
    """A validated capture, ready to be stored under `/scans/<scan_id>`."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="forbid")

    scan_id: str = Field(pattern=r"^(rest|max_opening|max_lip_stretch|photo|unassigned)_\d{1,2}(_dup\d{1,3})?$",
                         description="<condition>_<repetition>[_dup<n>], e.g. 'max_opening_2'")
    condition: Condition
    repetition: int = Field(ge=1, le=99, description="1..3 per protocol; >3 means a retake")
    capture_utc: str = Field(description="ISO-8601 Z: from the sidecar/header if given, else the mesh file mtime")
    capture_time_source: Literal["sidecar", "header", "mtime"] = "mtime"
    t_lsl: float = Field(description="LSL clock when the capture was ingested")
    condition_source: Literal["filename", "sidecar", "step", "none"] = "none"
    source_files: list[SourceFile]
    mesh_format: Literal["obj", "ply", "stl", "none"] = "none"
    vertices: np.ndarray
    faces: np.ndarray
    colours: np.ndarray | None = None
    uv: np.ndarray | None = None
    texture: bytes | None = None
    texture_format: Literal["png", "jpeg"] | None = None
    landmarks: dict[str, tuple[float, float, float]] | None = None
    photos: dict[str, bytes] = Field(default_factory=dict, description="view ('frontal', ...) or index -> bytes")
    metrics: ScanMetrics | None = None
    warnings: list[str] = Field(default_factory=list)

    @field_validator("vertices")
    @classmethod
    def _v(cls, v: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(v, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"vertices must be (V,3), got {v.shape}")
        return v

    @field_validator("photos")
    @classmethod
    def _p(cls, p: dict[str, bytes]) -> dict[str, bytes]:
        bad = [k for k in p if not PHOTO_KEY_RE.match(k)]
        if bad:
            raise ValueError(f"photo keys must be a view or an index, got {len(bad)} other key(s)")
        return p

    @field_validator("faces")
    @classmethod
    def _f(cls, f: np.ndarray) -> np.ndarray:
        f = np.ascontiguousarray(f, dtype=np.int64)
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"faces must be (F,3), got {f.shape}")
        return f

    @model_validator(mode="after")
    def _consistent(self) -> "ScanCapture":
        nv = len(self.vertices)
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= nv):
            raise ValueError("faces index vertices out of range")
        if self.colours is not None:
            c = self.colours
            if c.dtype != np.uint8 or c.ndim != 2 or c.shape[0] != nv or c.shape[1] not in (3, 4):
                raise ValueError(f"colours must be (V,3|4) uint8, got {c.shape} {c.dtype}")
        if self.uv is not None and (self.uv.ndim != 2 or self.uv.shape != (nv, 2)):
            raise ValueError(f"uv must be (V,2), got {self.uv.shape}")
        if self.condition == "photo":
            if nv or not self.photos:
                raise ValueError("a photo capture has photos and no mesh")
        elif nv == 0:
            raise ValueError("a mesh capture needs vertices")
        return self

    def summary(self) -> dict[str, object]:
        """A small JSON-able description (event payloads, logs)."""
        m = self.metrics
        return {
            "scan_id": self.scan_id,
            "condition": self.condition,
            "repetition": self.repetition,
            "capture_utc": self.capture_utc,
            "vertices": int(len(self.vertices)),
            "faces": int(len(self.faces)),
            "files": [{"name": f.name, "sha256": f.sha256, "bytes": f.bytes} for f in self.source_files],
            "aperture_mm": None if m is None else m.aperture_mm,
            "mouth_width_mm": None if m is None else m.mouth_width_mm,
            "inner_perimeter_mm": None if m is None else m.inner_perimeter_mm,
            "warnings": list(self.warnings),
        }
