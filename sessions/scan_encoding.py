"""A validated scanner capture -> what the visit file stores under `/scans/<scan_id>`.

Nothing here comes from a vendor's file name: the driver's `ScanCapture` carries only aliases
(`capture_3/mesh.obj`), photo keys that are a view or an index, and a `<condition>_<repetition>` scan id, all
checked by the model (see drivers/scanner/aliases.py). Photos are stored as `photo_<view>` (`photo_frontal`,
`photo_three_quarter_left`, ...) or `photo_<index>`, their encodings in the `photo_formats` attribute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drivers.scanner.capture import ScanCapture
from drivers.scanner.loaders import PNG_SIGNATURE


def _image_format(data: bytes) -> str:
    """The photo's encoding by its magic (the driver checked it is a complete PNG or JPEG)."""
    return "png" if data.startswith(PNG_SIGNATURE) else "jpeg" if data.startswith(b"\xff\xd8\xff") else "unknown"


def encode_capture(cap: ScanCapture) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
    """(scan_id, arrays, attrs). Photos and the texture are stored as their original encoded bytes."""
    arrays: dict[str, np.ndarray] = {}
    if len(cap.vertices):
        arrays["vertices"] = cap.vertices
        arrays["faces"] = cap.faces
    if cap.colours is not None:
        arrays["colours"] = cap.colours
    if cap.uv is not None:
        arrays["uv"] = np.asarray(cap.uv, dtype=np.float32)
    if cap.texture is not None:
        arrays["texture"] = np.frombuffer(cap.texture, dtype=np.uint8)
    photo_formats: dict[str, str] = {}
    for key, data in cap.photos.items():
        arrays[f"photo_{key}"] = np.frombuffer(data, dtype=np.uint8)
        photo_formats[key] = _image_format(data)
    m = cap.metrics
    attrs: dict[str, Any] = {
        "condition": cap.condition,
        "repetition": cap.repetition,
        "capture_utc": cap.capture_utc,
        "capture_time_source": cap.capture_time_source,
        "condition_source": cap.condition_source,
        "t_lsl": cap.t_lsl,
        "mesh_format": cap.mesh_format,
        "units": "mm",
        # aliases (capture_3/mesh.obj) with role, content SHA-256, size, mtime: the hash finds the file in ingested/
        "source_files": [f.model_dump() for f in cap.source_files],
        "landmarks": cap.landmarks or {},
        "texture_format": cap.texture_format or "",
        "photo_formats": photo_formats,
        "metrics": ({**m.model_dump(), "aperture_mm": m.aperture_mm, "mouth_width_mm": m.mouth_width_mm}
                    if m is not None else {}),
        "warnings": list(cap.warnings),
    }
    return cap.scan_id, arrays, attrs
