"""Keep identifying text out of the trial record: the fallback for sources that do not do it themselves.

Vendor scanner software often names its exports after the patient ("DUPONT_Marie_2026-11-25.obj"). The visit file
must identify the subject by pseudonym only. The scanner driver stops such names at the source (it names files
`capture_3/mesh.obj`, see drivers/scanner/aliases.py, and declares `emits_pseudonymous_names`), so its payloads are
left as they are. For any other source or scanner (the declaration absent or False, read by
`acquisition.source.emits_pseudonymous_names`), the session's reader replaces the file and folder names of its event
payloads by a stable pseudonym (`file-<10 hex of SHA-256 of the name>.<ext>`) before they reach the journal.
That is weaker than an alias (a short hash of a name is reversed by hashing a list of names) and only catches
names under `NAME_KEYS` or quoted verbatim elsewhere: a source that can do better should, as the scanner does.
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
