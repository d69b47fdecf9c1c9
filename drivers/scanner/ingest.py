"""Turn a complete capture group (files on disk) into a validated `ScanCapture`, or a `ScanRejected`.

The bytes of each file are read once; the SHA-256 recorded is of those exact bytes, and parsing works on the
same bytes, so the hash always describes what was parsed.

From the first read on, a file is known by its alias (`aliases`): the parsers, the checks and every message
see only `capture_3/mesh.obj`, so no vendor file name (often the patient's name) can reach the capture, its
warnings or a rejection. Names found inside the files (an OBJ's `mtllib`, an MTL's `map_Kd`) are looked up
among the group's real names and replaced by their alias; a missing one is named only in `detail`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.clock import utc_iso
from drivers.scanner.aliases import FileAliases
from drivers.scanner.capture import SCAN_CONDITIONS, ScanCapture, SourceFile
from drivers.scanner.errors import ScanRejected
from drivers.scanner.folder_watch import IMAGE_EXT, MESH_EXT, CaptureGroup
from drivers.scanner.loaders import parse_landmarks, parse_mesh, parse_mtl, sniff_image
from drivers.scanner.metrics import measure
from drivers.scanner.naming import condition_from_name, condition_from_step, photo_view
from drivers.scanner.validate import ValidationLimits, validate_mesh


@dataclass
class _Read:
    path: Path
    data: bytes
    sha256: str
    mtime_utc: str


@dataclass
class ScanNumbering:
    """Assigns scan ids: `<condition>_<repetition>`, unique within the visit."""

    used_ids: set[str] = field(default_factory=set)
    reps: dict[str, set[int]] = field(default_factory=dict)

    def assign(self, condition: str, rep_hint: int | None) -> tuple[str, int, bool]:
        """(scan_id, repetition, duplicate?) for a capture of `condition`."""
        taken = self.reps.setdefault(condition, set())
        rep = rep_hint if rep_hint is not None else next(i for i in range(1, 100) if i not in taken)
        rep = max(1, min(rep, 99))
        base = f"{condition}_{rep}"
        scan_id, n = base, 1
        while scan_id in self.used_ids:
            n += 1
            scan_id = f"{base}_dup{n}"
        return scan_id, rep, scan_id != base

    def commit(self, scan_id: str, condition: str, rep: int) -> None:
        self.used_ids.add(scan_id)
        self.reps.setdefault(condition, set()).add(rep)


def _mtime_utc(ns: int) -> str:
    return utc_iso(_dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc))


def _read(group: CaptureGroup, aliases: FileAliases, max_bytes: int) -> dict[str, _Read]:
    """The group's files by alias."""
    out: dict[str, _Read] = {}
    for path, (_, size, mtime_ns) in zip(group.files, group.signature):
        alias = aliases.of(path.name)
        if size > max_bytes:
            raise ScanRejected(alias, f"file of {size} bytes is larger than the {max_bytes}-byte limit")
        data = path.read_bytes()
        out[alias] = _Read(path, data, hashlib.sha256(data).hexdigest(), _mtime_utc(mtime_ns))
    return out


def build_capture(
    group: CaptureGroup,
    *,
    aliases: FileAliases,
    limits: ValidationLimits,
    numbering: ScanNumbering,
    step: str,
    t_lsl: float,
) -> ScanCapture:
    """Read, parse and validate a ready group. Raises ScanRejected (file + problem) or OSError (file vanished).

    The scan id is proposed by `numbering` but not committed: the caller commits it once the capture is accepted.
    Every name in the capture and in a ScanRejected is an alias from `aliases`.
    """
    names = aliases.names(group.names)
    files = _read(group, aliases, limits.max_file_bytes)
    roles: dict[str, str] = {}
    if group.kind == "orphan":
        raise ScanRejected(names[0], f"no mesh or photo set with the same stem arrived (files: {', '.join(names)})")
    landmarks: dict[str, tuple[float, float, float]] = {}
    meta: dict[str, Any] = {}
    landmark_file = ""
    warnings: list[str] = []
    for name in names:
        if name.endswith((".json", ".csv")):
            lm, md = parse_landmarks(name, files[name].data)
            for k, v in lm.items():
                if k in landmarks and not np.allclose(landmarks[k], v, atol=1e-3):
                    warnings.append(f"landmark {k} differs between landmark files; kept {landmark_file}")
                    continue
                landmarks[k] = v
            if lm and not landmark_file:
                landmark_file = name
            meta.update(md)
            roles[name] = "landmarks" if lm else "sidecar"
    condition, rep_hint, cond_source = _condition(group, meta, step, landmark_file or names[0])
    photos: dict[str, bytes] = {}
    if group.kind == "photo":
        for real, name in zip(group.names, names):
            if name.endswith(IMAGE_EXT):
                sniff_image(name, files[name].data)
                photos[aliases.photo_keys[real]] = files[name].data
                roles[name] = "photo"
        condition, rep_hint, cond_source = "photo", None, "filename"
        scan_id, rep, dup = numbering.assign("photo", None)
        if dup:
            warnings.append("duplicate scan id")
        cap = ScanCapture(
            scan_id=scan_id, condition="photo", repetition=rep,
            capture_utc=str(meta.get("capture_utc") or max(f.mtime_utc for f in files.values())),
            capture_time_source="sidecar" if meta.get("capture_utc") else "mtime",
            t_lsl=t_lsl, condition_source="filename", source_files=_sources(files, roles),
            vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64), photos=photos, warnings=warnings,
        )
        return cap

    meshes = [n for n in names if n.endswith(MESH_EXT)]
    if len(meshes) != 1:
        raise ScanRejected(meshes[1], f"{len(meshes)} mesh files share one stem: {', '.join(meshes)}")
    mesh_name = meshes[0]
    roles[mesh_name] = "mesh"
    parsed = parse_mesh(mesh_name, files[mesh_name].data)
    texture: bytes | None = None
    texture_format: str | None = None
    for mtl_ref in parsed.mtllibs:
        mtl = aliases.by_name.get(Path(mtl_ref).name)
        if mtl is None:
            raise ScanRejected(mesh_name, "a material library the OBJ references (mtllib) is missing",
                               detail=f"missing file: {Path(mtl_ref).name}")
        roles[mtl] = "material"
        for tex_ref in parse_mtl(mtl, files[mtl].data):
            tex = aliases.by_name.get(Path(tex_ref).name)
            if tex is None:
                raise ScanRejected(mtl, f"a texture referenced by {mtl} is missing",
                                   detail=f"missing file: {Path(tex_ref).name}")
            fmt = sniff_image(tex, files[tex].data)
            roles[tex] = "texture"
            if texture is None:
                texture, texture_format = files[tex].data, fmt
    extra_photos = [(real, name) for real, name in zip(group.names, names)
                    if name not in roles and name.endswith(IMAGE_EXT)]
    for k, (real, name) in enumerate(extra_photos, start=1):  # images beside a mesh that are not its texture
        sniff_image(name, files[name].data)
        view = photo_view(real)
        key = view if view is not None and view not in photos else str(k)
        photos[key] = files[name].data
        roles[name] = "photo"
    for name in names:
        if name not in roles:
            roles[name] = "other"
            warnings.append(f"unrecognised file {name} kept with the capture")
    if texture is not None and parsed.uv is None:
        warnings.append("texture present but the OBJ has no per-vertex UV coordinates")
    check = validate_mesh(
        mesh_name, parsed.vertices, parsed.faces, limits=limits,
        landmarks=landmarks or None, landmark_file=landmark_file, declared_vertices=parsed.declared_vertices,
    )
    warnings.extend(check.warnings)
    metrics = measure(check.mouth, landmarks or None)
    if meta.get("capture_utc"):
        capture_utc, time_source = str(meta["capture_utc"]), "sidecar"
    elif parsed.header_utc:
        capture_utc, time_source = parsed.header_utc, "header"
    else:
        capture_utc, time_source = files[mesh_name].mtime_utc, "mtime"
    scan_id, rep, dup = numbering.assign(condition, rep_hint)
    if dup:
        warnings.append(f"{condition} repetition {rep} already ingested; stored as {scan_id}")
    cap = ScanCapture(
        scan_id=scan_id, condition=condition, repetition=rep,  # type: ignore[arg-type]
        capture_utc=capture_utc, capture_time_source=time_source,  # type: ignore[arg-type]
        t_lsl=t_lsl, condition_source=cond_source,  # type: ignore[arg-type]
        source_files=_sources(files, roles), mesh_format=mesh_name.rsplit(".", 1)[1].lower(),  # type: ignore[arg-type]
        vertices=parsed.vertices, faces=parsed.faces, colours=parsed.colours, uv=parsed.uv,
        texture=texture, texture_format=texture_format,  # type: ignore[arg-type]
        landmarks=landmarks or None, photos=photos, metrics=metrics, warnings=warnings,
    )
    return cap


def _condition(
    group: CaptureGroup, meta: dict[str, Any], step: str, sidecar_name: str
) -> tuple[str, int | None, str]:
    rep: int | None = None
    if "repetition" in meta:
        try:
            rep = int(meta["repetition"])
        except (TypeError, ValueError):
            raise ScanRejected(sidecar_name, f"repetition {meta['repetition']!r} is not an integer") from None
        if rep < 1:
            raise ScanRejected(sidecar_name, f"repetition {rep} must be >= 1")
    if "condition" in meta:
        cond = str(meta["condition"])
        if cond not in SCAN_CONDITIONS:
            raise ScanRejected(sidecar_name, f"unknown condition {cond!r} (expected one of {', '.join(SCAN_CONDITIONS)})")
        return cond, rep, "sidecar"
    cond_n, rep_n = condition_from_name(group.key)
    if cond_n is not None:
        return cond_n, rep if rep is not None else rep_n, "filename"
    cond_s = condition_from_step(step) if step else None
    if cond_s is not None:
        return cond_s, rep, "step"
    return "unassigned", rep, "none"


def _sources(files: dict[str, _Read], roles: dict[str, str]) -> list[SourceFile]:
    return [
        SourceFile(name=n, role=roles.get(n, "other"), sha256=r.sha256, bytes=len(r.data), mtime_utc=r.mtime_utc)
        for n, r in sorted(files.items())
    ]

