"""Simulated facial scanner: writes capture files into an export folder, as a vendor's software would.

Each capture is a face from the signal generator (`drivers.signals.face.face_mesh`, known aperture, width and
inner perimeter) exported as OBJ + MTL + PNG texture, PLY with vertex colour, or binary STL, with a landmark
file (JSON sidecar that also carries condition/repetition/capture time, or CSV). Files are copied slowly in
pieces under their final names (`write_mode="slow"`: exercises half-written detection) or written as
`<name>.part` and renamed (`"part"`), or at once (`"direct"`).

A scanner out of calibration: `scale_error_pct` scales every capture it writes (2.0: every distance 2 % too long).
`write_reference` writes a capture of a reference object of known size (`drivers.signals.reference_objects`: the
front of a sphere, or a gauge block) for the scanner-scale calibration; its truth is the nominal size and the
scale error.

Faults (armed on `faults`, fired on the next capture): `truncated` (mesh cut at 60 %), `wrong_units` (metres),
`empty` (0-byte mesh), `garbage` (random bytes), `nan` (NaN vertices), `missing_texture` (MTL names a PNG that
is never written). The ground truth of every capture written is appended to `<folder>/.sim_truth.jsonl`
(a dot-file: the driver ignores it).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from acquisition.clock import utc_iso
from drivers.common.faults import FaultSwitchboard
from drivers.scanner import writers

ScannerFault = Literal["truncated", "wrong_units", "empty", "garbage", "nan", "missing_texture"]
SCANNER_FAULTS: tuple[str, ...] = ("truncated", "wrong_units", "empty", "garbage", "nan", "missing_texture")
MeshFormat = Literal["obj", "ply", "stl"]
WriteMode = Literal["slow", "part", "direct"]

#: mouth shape the simulated subject makes per condition (aperture, width mm); SSc-like opening (<40 mm)
CONDITION_MOUTH: dict[str, tuple[float, float]] = {
    "rest": (0.0, 45.0),  # lips sealed: no mouth hole
    "max_opening": (30.0, 45.0),
    "max_lip_stretch": (10.0, 55.0),
}


@dataclass
class SimCapture:
    """What the simulator wrote for one capture (tests compare the driver's output with it)."""

    stem: str
    condition: str
    repetition: int
    fmt: str
    fault: str | None
    files: list[Path]
    truth: dict[str, float] = field(default_factory=dict)


def _default_factory(**kw: Any) -> Any:
    from drivers.signals.face import face_mesh  # the generators helper's module

    return face_mesh(**kw)


class ScannerSimulator:
    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        seed: int = 0,
        subject: str = "SIM01",
        write_mode: WriteMode = "slow",
        pieces: int = 5,
        piece_delay_s: float = 0.05,
        faults: FaultSwitchboard | None = None,
        mesh_factory: Callable[..., Any] | None = None,
        face_kwargs: dict[str, Any] | None = None,
        scale_error_pct: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (np.isfinite(scale_error_pct) and -50.0 < scale_error_pct < 50.0):
            raise ValueError(f"scale_error_pct must be within (-50, 50) %, got {scale_error_pct!r}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.subject = subject
        self.write_mode = write_mode
        self.pieces = max(1, pieces)
        self.piece_delay_s = piece_delay_s
        self.faults = faults or FaultSwitchboard()
        self._factory = mesh_factory or _default_factory
        self._face_kwargs = dict(face_kwargs or {})  # e.g. n_around / n_rings for small fast test meshes
        self._sleep = sleep
        self.scale_error_pct = float(scale_error_pct)
        self._scale = 1.0 + self.scale_error_pct / 100.0
        self._rng = np.random.default_rng(seed)
        self.written: list[SimCapture] = []

    # -- file output ---------------------------------------------------------------------------------
    def _put(self, name: str, data: bytes) -> Path:
        final = self.folder / name
        if self.write_mode == "direct" or len(data) == 0:
            final.write_bytes(data)
            return final
        target = final.with_name(final.name + ".part") if self.write_mode == "part" else final
        step = max(1, -(-len(data) // self.pieces))
        with open(target, "wb") as fh:
            for i in range(0, len(data), step):
                fh.write(data[i : i + step])
                fh.flush()
                if i + step < len(data):
                    self._sleep(self.piece_delay_s)
        if target != final:
            os.rename(target, final)
        return final

    def _take_fault(self, fault: str | None, fmt: str) -> str | None:
        if fault is not None:
            return fault
        for name in SCANNER_FAULTS:
            if name == "missing_texture" and fmt != "obj":
                continue  # only an OBJ has a texture to lose: stays armed for the next OBJ capture
            if self.faults.take(name):  # type: ignore[arg-type]
                return name
        return None

    # -- captures ------------------------------------------------------------------------------------
    def write_capture(
        self,
        condition: str,
        repetition: int,
        *,
        fmt: MeshFormat = "obj",
        fault: str | None = None,
        landmarks: Literal["json", "csv", "none"] = "json",
        order: Literal["mesh_last", "mesh_first"] = "mesh_last",
        stem: str | None = None,
        mouth: tuple[float, float] | None = None,
    ) -> SimCapture:
        fault = self._take_fault(fault, fmt)
        aperture, width = mouth or CONDITION_MOUTH[condition]
        seed = int(self.seed * 1000 + len(self.written))
        face = self._factory(condition=condition, aperture_mm=aperture, mouth_width_mm=width, seed=seed,
                             **self._face_kwargs)
        verts = np.asarray(face.vertices, dtype=np.float64)
        faces = np.asarray(face.faces, dtype=np.int64)
        colours = np.asarray(face.colours, dtype=np.uint8) if getattr(face, "colours", None) is not None else None
        lms = {k: tuple(float(c) for c in v) for k, v in dict(face.landmarks).items()}
        truth = {k: float(v) for k, v in face.truth.model_dump().items() if isinstance(v, (int, float))}
        stem = stem or f"{self.subject}_{condition}_{repetition}"
        capture_utc = utc_iso()
        if self._scale != 1.0:  # a miscalibrated scanner: every coordinate it exports is off by the same factor
            verts = verts * self._scale
            lms = {k: (v[0] * self._scale, v[1] * self._scale, v[2] * self._scale) for k, v in lms.items()}
        if fault == "wrong_units":
            verts = verts / 1000.0
            lms = {k: (v[0] / 1000.0, v[1] / 1000.0, v[2] / 1000.0) for k, v in lms.items()}
        if fault == "nan":
            idx = self._rng.choice(len(verts), size=max(1, len(verts) // 100), replace=False)
            verts = verts.copy()
            verts[idx] = np.nan
        files: list[tuple[str, bytes]] = []
        if landmarks == "json":
            files.append((f"{stem}.json", writers.landmarks_json(lms, condition=condition, repetition=repetition,
                                                                 capture_utc=capture_utc, subject=self.subject)))
        elif landmarks == "csv":
            files.append((f"{stem}_landmarks.csv", writers.landmarks_csv(lms)))
        if fmt == "obj":
            uv = writers.planar_uv(verts if np.isfinite(verts).all() else np.nan_to_num(verts))
            tex = f"{stem}.png"
            mesh = writers.obj_text(verts, faces, uv=uv, mtllib=f"{stem}.mtl", capture_utc=capture_utc)
            if fault != "missing_texture":
                files.append((tex, writers.png_bytes(writers.skin_texture(128, seed=seed))))
            files.append((f"{stem}.mtl", writers.mtl_text(tex)))
        elif fmt == "ply":
            mesh = writers.ply_bytes(verts, faces, colours, capture_utc=capture_utc)
        else:
            mesh = writers.stl_bytes(verts, faces, capture_utc=capture_utc)
        if fault == "truncated":
            mesh = mesh[: int(len(mesh) * 0.6)]
        elif fault == "empty":
            mesh = b""
        elif fault == "garbage":
            mesh = self._rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes()
        mesh_item = (f"{stem}.{fmt}", mesh)
        files = files + [mesh_item] if order == "mesh_last" else [mesh_item] + files
        paths = [self._put(name, data) for name, data in files]
        rec = SimCapture(stem, condition, repetition, fmt, fault, paths, truth)
        self.written.append(rec)
        with open(self.folder / ".sim_truth.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"stem": stem, "condition": condition, "repetition": repetition, "format": fmt,
                                 "fault": fault, "files": [p.name for p in paths], "truth": truth}) + "\n")
        return rec

    def write_reference(self, shape: Literal["sphere", "block"] = "sphere", *, diameter_mm: float = 100.0,
                        size_mm: tuple[float, float, float] = (100.0, 50.0, 25.0), fmt: MeshFormat = "ply",
                        stem: str | None = None, noise_mm: float = 0.05) -> SimCapture:
        """A capture of a reference object (no landmarks, no condition: the scanner-scale calibration's), scaled
        by the scanner's `scale_error_pct`. Truth: the nominal size, the scale error, and the measured size a
        perfect fit would give."""
        from drivers.signals.reference_objects import gauge_block, sphere_cap

        seed = int(self.seed * 1000 + len(self.written))
        ref = sphere_cap(diameter_mm, noise_mm=noise_mm, seed=seed) if shape == "sphere" else \
            gauge_block(size_mm, noise_mm=noise_mm, seed=seed)
        verts = ref.vertices * self._scale
        stem = stem or f"reference_{shape}_{len(self.written) + 1}"
        capture_utc = utc_iso()
        if fmt == "obj":
            mesh = writers.obj_text(verts, ref.faces, uv=None, mtllib=None, capture_utc=capture_utc)
        elif fmt == "ply":
            mesh = writers.ply_bytes(verts, ref.faces, None, capture_utc=capture_utc)
        else:
            mesh = writers.stl_bytes(verts, ref.faces, capture_utc=capture_utc)
        truth: dict[str, float] = {"scale_error_pct": self.scale_error_pct}
        if ref.diameter_mm is not None:
            truth.update(diameter_mm=ref.diameter_mm, measured_diameter_mm=ref.diameter_mm * self._scale)
        if ref.size_mm is not None:
            for axis, v in zip("abc", ref.size_mm, strict=True):
                truth[f"size_{axis}_mm"] = v
        path = self._put(f"{stem}.{fmt}", mesh)
        rec = SimCapture(stem, f"reference_{shape}", 1, fmt, None, [path], truth)
        self.written.append(rec)
        with open(self.folder / ".sim_truth.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"stem": stem, "condition": rec.condition, "repetition": 1, "format": fmt,
                                 "fault": None, "files": [path.name], "truth": truth}) + "\n")
        return rec

    def write_photos(self, *, views: tuple[str, ...] = ("frontal", "three_quarter_l", "three_quarter_r", "profile"),
                     prefix: str | None = None) -> list[Path]:
        """2D photos of the visit (`<prefix>_photo_<view>.png`, prefix = the subject unless given): one photo capture.

        A vendor may name them after the patient (`prefix="DUPONT_Marie"`): the privacy tests do."""
        out = []
        stem = self.subject if prefix is None else prefix
        for i, view in enumerate(views):
            img = writers.skin_texture(96, seed=self.seed * 10 + i)
            out.append(self._put(f"{stem}_photo_{view}.png", writers.png_bytes(img)))
        return out

    def run_protocol(
        self,
        stop: threading.Event,
        *,
        interval_s: float = 2.0,
        formats: tuple[str, ...] = ("obj", "ply", "stl"),
        photos: bool = True,
        on_capture: Callable[[SimCapture], None] | None = None,
    ) -> None:
        """The protocol's 3 conditions x 3 repetitions, one capture every `interval_s`, then the photos."""
        k = 0
        for condition in ("rest", "max_opening", "max_lip_stretch"):
            for rep in (1, 2, 3):
                if stop.is_set():
                    return
                rec = self.write_capture(condition, rep, fmt=formats[k % len(formats)],  # type: ignore[arg-type]
                                         landmarks="json" if k % 3 != 2 else "csv")
                k += 1
                if on_capture is not None:
                    on_capture(rec)
                if stop.wait(interval_s):
                    return
        if photos and not stop.is_set():
            self.write_photos()
