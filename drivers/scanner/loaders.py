"""Parse the files a scanner exports: meshes (OBJ/PLY/STL via trimesh), MTL, landmarks (JSON/CSV), images.

Every parser takes the exact bytes that were read (and hashed) and raises `ScanRejected(name, problem)` on
anything it cannot use; no exception of another type escapes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import struct
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from drivers.scanner.errors import ScanRejected

MESH_SUFFIXES = (".obj", ".ply", ".stl")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NUL = b"\x00"


@dataclass
class ParsedMesh:
    vertices: np.ndarray  # (V,3) float64
    faces: np.ndarray  # (F,3) int64
    colours: np.ndarray | None  # (V,3|4) uint8
    uv: np.ndarray | None  # (V,2)
    header_utc: str | None  # capture time written in the file header, if any
    mtllibs: list[str]
    declared_vertices: int | None = None  # vertex records in the file (OBJ: trimesh drops the unused ones)


_UTC_IN_HEADER = re.compile(r"capture_utc[:=\s]+(\d{4}-\d\d-\d\dT[0-9:.]+Z)")


def parse_mesh(name: str, data: bytes) -> ParsedMesh:
    """Parse an OBJ / PLY / STL file's bytes. Raises ScanRejected on any failure."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if not data:
        raise ScanRejected(name, "file is empty (0 bytes)")
    if suffix == ".obj":
        return _parse_obj(name, data)
    if suffix == ".ply":
        return _parse_ply(name, data)
    if suffix == ".stl":
        return _parse_stl(name, data)
    raise ScanRejected(name, f"not a mesh file type this driver reads ({suffix or 'no suffix'})")


def _load_trimesh(name: str, data: bytes, file_type: str, **kw: Any) -> trimesh.Trimesh:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warnings from trimesh on odd input; failures raise below
            loaded = trimesh.load(io.BytesIO(data), file_type=file_type, process=False, **kw)
    except Exception as exc:  # trimesh raises many types on bad input; all of them mean "cannot parse"
        raise ScanRejected(name, f"cannot parse as {file_type.upper()}: {type(exc).__name__}: {exc}"[:400]) from None
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.geometry.values() if isinstance(g, trimesh.Trimesh)]
        if not geoms:
            raise ScanRejected(name, f"no mesh in the {file_type.upper()} file (no faces or no vertices)")
        if len(geoms) > 1:
            raise ScanRejected(name, f"{len(geoms)} separate meshes in one file; expected one face mesh")
        loaded = geoms[0]
    if not isinstance(loaded, trimesh.Trimesh):
        raise ScanRejected(name, f"{file_type.upper()} holds a {type(loaded).__name__}, not a triangle mesh (no faces?)")
    return loaded


def _parse_obj(name: str, data: bytes) -> ParsedMesh:
    if b"\x00" in data:
        raise ScanRejected(name, f"binary data (NUL byte at offset {data.index(NUL)}) in a text OBJ file")
    text = data.decode("utf-8", errors="replace")
    if not text.endswith(("\n", "\r")):
        last = text.rsplit("\n", 1)[-1].strip()
        if last and not _complete_obj_record(last):
            raise ScanRejected(name, f"last line {last[:40]!r} is cut short (file truncated or still being written)")
    mtllibs: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("mtllib"):
            mtllibs.extend(s.split(None, 1)[1:2])
    mesh = _load_trimesh(name, text.encode("utf-8"), "obj", maintain_order=True, skip_materials=True)
    uv = None
    colours = None
    vis = mesh.visual
    if getattr(vis, "kind", None) == "texture" and getattr(vis, "uv", None) is not None and len(vis.uv) == len(mesh.vertices):
        uv = np.asarray(vis.uv, dtype=np.float64)
    elif getattr(vis, "kind", None) == "vertex":
        colours = np.asarray(vis.vertex_colors, dtype=np.uint8)
    if uv is None and re.search(r"(?m)^vt\s", text):
        # trimesh drops UVs without a material; read them when there is exactly one per vertex
        uv = _obj_uv(text, len(mesh.vertices))
    m = _UTC_IN_HEADER.search(text[:4096])
    declared = len(re.findall(r"(?m)^[ \t]*v[ \t]", text))
    v, f = _vf(mesh)
    return ParsedMesh(v, f, colours, uv, m.group(1) if m else None, mtllibs, declared)


_OBJ_REF = re.compile(r"^-?\d+(/-?\d*)?(/-?\d+)?$")


def _complete_obj_record(line: str) -> bool:
    """Whether an OBJ line without a final newline is a whole record (a cut `v 1.0 2.` or `f 1/1 2` is not)."""
    parts = line.split()
    kind, args = parts[0], parts[1:]
    if kind in ("v", "vn", "vt"):
        need = 2 if kind == "vt" else 3
        try:
            [float(a) for a in args]
        except ValueError:
            return False
        return len(args) >= need
    if kind == "f":
        return len(args) >= 3 and all(_OBJ_REF.match(a) for a in args)
    return True


def _obj_uv(text: str, n_vertices: int) -> np.ndarray | None:
    rows = [ln.split()[1:3] for ln in text.splitlines() if ln.startswith("vt ")]
    if len(rows) != n_vertices:
        return None
    try:
        uv = np.asarray(rows, dtype=np.float64)
    except ValueError:
        return None
    return uv if uv.shape == (n_vertices, 2) else None


def _parse_ply(name: str, data: bytes) -> ParsedMesh:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ScanRejected(name, "not a PLY file (no 'ply' magic / 'end_header')")
    header = data[:end].decode("ascii", errors="replace")
    declared = {m.group(1): int(m.group(2)) for m in re.finditer(r"(?m)^element\s+(\w+)\s+(\d+)", header)}
    mesh = _load_trimesh(name, data, "ply")
    nv = declared.get("vertex")
    nf = declared.get("face")
    if nv is not None and nv != len(mesh.vertices):
        raise ScanRejected(name, f"header declares {nv} vertices but {len(mesh.vertices)} were read (truncated?)")
    if nf is not None and nf != len(mesh.faces):
        raise ScanRejected(name, f"header declares {nf} faces but {len(mesh.faces)} were read (truncated?)")
    colours = None
    if getattr(mesh.visual, "kind", None) == "vertex":
        colours = np.asarray(mesh.visual.vertex_colors, dtype=np.uint8)
    m = _UTC_IN_HEADER.search(header)
    v, f = _vf(mesh)
    return ParsedMesh(v, f, colours, None, m.group(1) if m else None, [])


def _parse_stl(name: str, data: bytes) -> ParsedMesh:
    if not data.lstrip().startswith(b"solid") and len(data) >= 84:
        (count,) = struct.unpack("<I", data[80:84])
        if len(data) != 84 + 50 * count:
            raise ScanRejected(
                name, f"binary STL declares {count} triangles ({84 + 50 * count} bytes) but has {len(data)} bytes"
            )
    mesh = _load_trimesh(name, data, "stl")
    mesh.merge_vertices()  # STL stores each triangle's corners separately
    m = _UTC_IN_HEADER.search(data[:80].decode("ascii", errors="replace"))
    v, f = _vf(mesh)
    return ParsedMesh(v, f, None, None, m.group(1) if m else None, [])


def _vf(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3))


def parse_mtl(name: str, data: bytes) -> list[str]:
    """Texture files an MTL references (map_Kd and other map_* statements; options before the name skipped)."""
    if b"\x00" in data:
        raise ScanRejected(name, "binary data in a text MTL file")
    out: list[str] = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        parts = line.strip().split()
        if parts and parts[0].lower() in ("map_kd", "map_ka", "map_ks", "map_d", "map_bump", "bump"):
            out.append(parts[-1])
    return out


def sniff_image(name: str, data: bytes) -> str:
    """'png' or 'jpeg' after checking the file is complete; ScanRejected otherwise."""
    if not data:
        raise ScanRejected(name, "image file is empty (0 bytes)")
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 33 or data[12:16] != b"IHDR":
            raise ScanRejected(name, "PNG without IHDR header chunk")
        w, h = struct.unpack(">II", data[16:24])
        if w == 0 or h == 0:
            raise ScanRejected(name, f"PNG of size {w}x{h}")
        if data[-8:-4] != b"IEND":
            raise ScanRejected(name, "PNG does not end with an IEND chunk (truncated?)")
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise ScanRejected(name, "JPEG does not end with the EOI marker (truncated?)")
        return "jpeg"
    raise ScanRejected(name, "not a PNG or JPEG image")


def parse_landmarks(name: str, data: bytes) -> tuple[dict[str, tuple[float, float, float]], dict[str, Any]]:
    """Landmarks from JSON or CSV -> ({name: (x, y, z) mm}, sidecar metadata such as condition/repetition).

    JSON: `{"landmarks": {"ch_r": [x, y, z], ...}, "condition": ..., "repetition": ..., "capture_utc": ...}`,
    or a plain `{"ch_r": [x, y, z], ...}`, or a list of `{"name":..., "x":..., "y":..., "z":...}`.
    CSV: rows `name,x,y,z` with an optional header row.
    """
    low = name.lower()
    meta: dict[str, Any] = {}
    raw: Any
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScanRejected(name, f"landmark file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if low.endswith(".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScanRejected(name, f"invalid JSON: {exc}") from None
        if isinstance(doc, dict) and ("landmarks" in doc or "condition" in doc or "repetition" in doc):
            meta = {k: v for k, v in doc.items() if k != "landmarks"}
            raw = doc.get("landmarks", {})
        else:
            raw = doc
        if isinstance(raw, list):
            try:
                raw = {str(d["name"]): [d["x"], d["y"], d["z"]] for d in raw}
            except (KeyError, TypeError) as exc:
                raise ScanRejected(name, f"landmark list entries need name/x/y/z ({exc!r})") from None
        if not isinstance(raw, dict):
            raise ScanRejected(name, f"landmarks must be an object name -> [x, y, z], got {type(raw).__name__}")
    elif low.endswith(".csv"):
        raw = {}
        for i, row in enumerate(csv.reader(io.StringIO(text))):
            if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
                continue
            if i == 0 and row[0].strip().lower() in ("name", "landmark", "label"):
                continue
            if len(row) < 4:
                raise ScanRejected(name, f"CSV line {i + 1}: expected name,x,y,z, got {len(row)} fields")
            raw[row[0].strip()] = row[1:4]
    else:
        raise ScanRejected(name, "landmark file must be .json or .csv")
    out: dict[str, tuple[float, float, float]] = {}
    for key, val in raw.items():
        try:
            xyz = tuple(float(x) for x in val)
        except (TypeError, ValueError):
            raise ScanRejected(name, f"landmark {key!r}: coordinates {val!r} are not numbers") from None
        if len(xyz) != 3 or not all(math.isfinite(c) for c in xyz):
            raise ScanRejected(name, f"landmark {key!r}: need 3 finite coordinates, got {val!r}")
        out[str(key)] = (xyz[0], xyz[1], xyz[2])
    return out, meta
