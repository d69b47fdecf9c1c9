"""Find host-identifying text in a visit file: its raw bytes and every decoded attribute and string field.

The raw bytes alone are not enough: the events table and the scans' attributes are stored compressed, so a path in
an event payload would not show in `grep` on the file. Both are searched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return " ".join(_text(x) for x in v.ravel().tolist())
    return str(v)


def _strings(f: h5py.File) -> list[tuple[str, str]]:
    """(where, text) of every attribute and of every string-valued dataset or compound field."""
    out: list[tuple[str, str]] = [("/ attrs", _text(v)) for v in f.attrs.values()]

    def visit(name: str, obj: Any) -> None:
        out.extend((f"/{name} attrs", _text(v)) for v in obj.attrs.values())
        if not isinstance(obj, h5py.Dataset):
            return
        dt = obj.dtype
        if dt.names:
            fields = [n for n in dt.names if dt[n].kind in ("O", "S", "U")]
            if fields:
                rows = obj[...]
                out.extend((f"/{name}[{n}]", _text(rows[n])) for n in fields)
        elif dt.kind in ("O", "S", "U"):
            out.append((f"/{name}", _text(obj[...])))

    f.visititems(visit)
    return out


def identifying_text(path: Path, words: list[str]) -> list[str]:
    """One line per `word` found in `path` (raw bytes or decoded text), naming where; empty if clean."""
    raw = Path(path).read_bytes()
    found = [f"{w!r} in the raw bytes" for w in words if w.encode() in raw]
    with h5py.File(path, "r") as f:
        for where, text in _strings(f):
            found.extend(f"{w!r} in {where}" for w in words if w in text)
    return found
