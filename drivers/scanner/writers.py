"""Encoders the scanner simulator uses to write what a scanner's export would: OBJ+MTL+PNG, PLY, STL, landmarks.

Formats follow their public specifications (Wavefront OBJ/MTL text, PLY 1.0 binary_little_endian, binary STL,
PNG per RFC 2083 with zlib-compressed filter-0 scanlines). Pillow is not needed: the PNG encoder is 20 lines.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np


def png_bytes(rgb: np.ndarray) -> bytes:
    """A truecolour 8-bit PNG of an (H, W, 3) uint8 image."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, c = img.shape
    if c != 3:
        raise ValueError("png_bytes wants (H, W, 3) uint8")
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def skin_texture(size: int = 256, *, seed: int = 0) -> np.ndarray:
    """A smooth skin-toned texture with a little noise (for the simulated scanner's texture atlas)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / float(size)
    base = np.stack([205 + 25 * x, 160 + 20 * y, 140 + 10 * (x - y)], axis=-1)
    base += rng.normal(0, 3, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def planar_uv(vertices: np.ndarray) -> np.ndarray:
    """Frontal projection UVs in [0, 1] (one UV per vertex)."""
    xy = vertices[:, :2]
    lo = xy.min(axis=0)
    span = np.where(np.ptp(xy, axis=0) > 0, np.ptp(xy, axis=0), 1.0)
    return (xy - lo) / span


def _rows(fmt: str, arr: np.ndarray) -> str:
    """`fmt` applied to every row of `arr` in one C-level % operation (much faster than a Python loop)."""
    return (fmt * len(arr)) % tuple(arr.ravel().tolist()) if len(arr) else ""


def obj_text(
    vertices: np.ndarray, faces: np.ndarray, *, uv: np.ndarray | None, mtllib: str | None, capture_utc: str
) -> bytes:
    parts = [f"# amuse-acquisition simulated scanner export\n# capture_utc: {capture_utc}\n# units: mm\n"]
    if mtllib:
        parts.append(f"mtllib {mtllib}\nusemtl skin\n")
    parts.append(_rows("v %.6f %.6f %.6f\n", np.asarray(vertices, dtype=np.float64)))
    f1 = np.asarray(faces, dtype=np.int64) + 1
    if uv is not None:
        parts.append(_rows("vt %.6f %.6f\n", np.asarray(uv, dtype=np.float64)))
        parts.append(_rows("f %d/%d %d/%d %d/%d\n", np.repeat(f1, 2, axis=1)))
    else:
        parts.append(_rows("f %d %d %d\n", f1))
    return "".join(parts).encode("ascii")


def mtl_text(texture_name: str) -> bytes:
    return (
        "# amuse-acquisition simulated scanner export\nnewmtl skin\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\n"
        f"map_Kd {texture_name}\n"
    ).encode("ascii")


def ply_bytes(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray | None, *, capture_utc: str) -> bytes:
    """Binary little-endian PLY: float32 x y z (+ uchar red green blue), uchar-count int32 face lists."""
    n, m = len(vertices), len(faces)
    head = ["ply", "format binary_little_endian 1.0", "comment amuse-acquisition simulated scanner export",
            f"comment capture_utc {capture_utc}", "comment units mm", f"element vertex {n}",
            "property float x", "property float y", "property float z"]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colours is not None:
        head += ["property uchar red", "property uchar green", "property uchar blue"]
        fields += [("r", "u1"), ("g", "u1"), ("b", "u1")]
    head += [f"element face {m}", "property list uchar int vertex_indices", "end_header"]
    vrec = np.zeros(n, dtype=fields)
    vrec["x"], vrec["y"], vrec["z"] = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    if colours is not None:
        vrec["r"], vrec["g"], vrec["b"] = colours[:, 0], colours[:, 1], colours[:, 2]
    frec = np.zeros(m, dtype=[("n", "u1"), ("i", "<i4", (3,))])
    frec["n"] = 3
    frec["i"] = faces
    return ("\n".join(head) + "\n").encode("ascii") + vrec.tobytes() + frec.tobytes()


def stl_bytes(vertices: np.ndarray, faces: np.ndarray, *, capture_utc: str) -> bytes:
    """Binary STL (80-byte header carrying the capture time, uint32 count, 50-byte triangles)."""
    tri = vertices[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, norm, out=np.zeros_like(normals), where=norm > 0)
    rec = np.zeros(len(faces), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["n"] = normals
    rec["v"] = tri
    header = f"amuse sim capture_utc {capture_utc}".encode("ascii")[:80].ljust(80, b" ")
    return header + struct.pack("<I", len(faces)) + rec.tobytes()


def landmarks_json(landmarks: dict[str, tuple[float, float, float]], **meta: object) -> bytes:
    doc = dict(meta)
    doc["units"] = "mm"
    doc["landmarks"] = {k: [float(c) for c in v] for k, v in landmarks.items()}
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def landmarks_csv(landmarks: dict[str, tuple[float, float, float]]) -> bytes:
    rows = ["name,x,y,z"] + [f"{k},{v[0]:.6f},{v[1]:.6f},{v[2]:.6f}" for k, v in landmarks.items()]
    return ("\n".join(rows) + "\n").encode("utf-8")
