"""A validated scanner capture -> what the visit file stores under `/scans/<scan_id>`."""

from __future__ import annotations

from typing import Any

import numpy as np

from drivers.scanner.capture import ScanCapture
from sessions.privacy import scrub_names


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
    for name, data in cap.photos.items():
        arrays[f"photo_{name}"] = np.frombuffer(data, dtype=np.uint8)
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
        # file names may carry the patient's name (vendor export naming): pseudonymised, content hash kept
        "source_files": scrub_names([f.model_dump() for f in cap.source_files], under_name_key=True),
        "landmarks": cap.landmarks or {},
        "texture_format": cap.texture_format or "",
        "metrics": ({**m.model_dump(), "aperture_mm": m.aperture_mm, "mouth_width_mm": m.mouth_width_mm}
                    if m is not None else {}),
        "warnings": list(cap.warnings),
    }
    return cap.scan_id, arrays, attrs
