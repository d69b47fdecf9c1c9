"""One face-scanner capture, `/scans/<id>`: attributes as a model at once, arrays only when asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from pydantic import ValidationError

from acquisition.visitfile.reader._errors import VisitFileDamaged
from acquisition.visitfile.reader._models import ScanAttrs
from acquisition.visitfile.reader._stream import text

#: attributes the writer stores as JSON text (`VisitFileWriter.add_scan`: anything not a plain scalar)
_JSON_ATTRS = ("source_files", "landmarks", "metrics", "warnings", "photo_formats")


class ScanView:
    def __init__(self, path: Path, group: h5py.Group, scan_id: str) -> None:
        self.id = scan_id
        self._g = group
        raw: dict[str, Any] = {}
        try:
            for k, v in group.attrs.items():
                v = text(v) if isinstance(v, (str, bytes)) else (v.item() if isinstance(v, np.generic) else v)
                raw[k] = json.loads(v) if k in _JSON_ATTRS and isinstance(v, str) else v
            self.attrs = ScanAttrs.model_validate(raw)
            #: the attributes exactly as stored (JSON-valued ones decoded), without the model's defaults: what a
            #: replay hands back to the writer so the new file stores the same attributes
            self.stored_attrs: dict[str, Any] = raw
        except (ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0][:200]
            raise VisitFileDamaged(path, f"/scans/{scan_id}: attributes do not parse ({type(exc).__name__}: "
                                         f"{first})") from None

    def __repr__(self) -> str:
        return f"ScanView({self.id!r}, {self.attrs.condition}, datasets {self.datasets})"

    @property
    def datasets(self) -> list[str]:
        return sorted(self._g.keys())

    @property
    def n_vertices(self) -> int:
        return int(self._g["vertices"].shape[0]) if "vertices" in self._g else 0

    @property
    def metrics(self) -> dict[str, Any]:
        return self.attrs.metrics

    @property
    def source_files(self) -> list[Any]:
        return list(self.attrs.source_files)

    def array(self, name: str) -> np.ndarray | None:
        """One dataset of the capture, read now; None if the capture has none of that name."""
        return self._g[name][()] if name in self._g else None

    def vertices(self) -> np.ndarray | None:
        """V × 3, mm."""
        return self.array("vertices")

    def faces(self) -> np.ndarray | None:
        return self.array("faces")

    def colours(self) -> np.ndarray | None:
        return self.array("colours")

    def uv(self) -> np.ndarray | None:
        return self.array("uv")

    def texture(self) -> bytes | None:
        a = self.array("texture")
        return None if a is None else a.tobytes()

    def photos(self) -> dict[str, bytes]:
        """Photo key (`frontal`, `profile_left`, `1` ...) -> its encoded bytes (PNG or JPEG: `attrs.photo_formats`)."""
        return {k.removeprefix("photo_"): self._g[k][()].tobytes() for k in self.datasets if k.startswith("photo_")}
