"""Keep identifying text out of the trial record.

Vendor scanner software often names its exports after the patient ("DUPONT_Marie_2026-11-25.obj"). The visit file
must identify the subject by pseudonym only, so file and folder names coming from an instrument are replaced by a
stable pseudonym (`file-<10 hex of SHA-256 of the name>.<ext>`) before they reach the journal. The content SHA-256
of each file is kept: it still ties the record to the exact file in the export folder (`ingested/`) for audit.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Any

#: payload keys whose string values are file or folder names
NAME_KEYS = frozenset({"name", "file", "files", "folder", "path", "stem", "source_file", "paths"})


def pseudonymise_name(name: str) -> str:
    """'DUPONT_Marie_max_opening_1.obj' -> 'file-3f1c0a9b2e.obj' (same input, same output)."""
    p = PurePath(name)
    suffix = "".join(s for s in p.suffixes[-2:] if len(s) <= 8 and s[1:].isalnum()).lower()
    digest = hashlib.sha256(p.name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"file-{digest}{suffix}"


def _names(obj: Any, under: bool, out: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _names(v, k in NAME_KEYS, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _names(v, under, out)
    elif isinstance(obj, str) and under and obj:
        out.add(obj)
        out.add(PurePath(obj).name)


def _replace(obj: Any, under: bool, table: list[tuple[str, str]]) -> Any:
    if isinstance(obj, dict):
        return {k: _replace(v, k in NAME_KEYS, table) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_replace(v, under, table) for v in obj]
    if isinstance(obj, str):
        if under:
            return pseudonymise_name(obj)
        for original, pseudo in table:  # a name quoted inside a message ("cannot parse DUPONT.obj: ...")
            if original in obj:
                obj = obj.replace(original, pseudo)
        return obj
    return obj


def scrub_names(obj: Any, *, under_name_key: bool = False) -> Any:
    """A copy of `obj` (dicts, lists, strings) where every string under a `NAME_KEYS` key is pseudonymised, and
    every occurrence of such a name inside any other string of `obj` (error messages) is replaced too."""
    names: set[str] = set()
    _names(obj, under_name_key, names)
    table = sorted(((n, pseudonymise_name(n)) for n in names if len(n) >= 3), key=lambda t: -len(t[0]))
    return _replace(obj, under_name_key, table)
