"""The names the record gives a capture's files: never the vendor's.

Vendor software names exports after the patient (`DUPONT_Marie_rest_1.obj`, `DUPONT_Marie_photo_frontal.png`).
Nothing derived from such a name may reach the record (dataset names, attributes, the journal, events) or a log
line, so the driver never hands one out: every file it reports is named by the capture's number in the visit and
the file's kind, `capture_3/mesh.obj`, `capture_3/material.mtl`, `capture_3/image.png`,
`capture_3/landmarks.json`, and photos by their view (`capture_5/photo_frontal.png`, see `naming.photo_view`) or
their index (`capture_5/photo_1.png`). Not a hash of the name either: a 10-hex digest of
`SURNAME_Firstname_rest_1.obj` is reversed by hashing a list of names.

What still ties the record to the files: each file's content SHA-256, size and mtime (`SourceFile`), and the
`<name>.reason.txt` written beside a rejected file, which gives both names. Those files stay in the vendor's
export folder (`ingested/`, `rejected/`), which is not the trial record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from drivers.scanner.folder_watch import IMAGE_EXT, MESH_EXT
from drivers.scanner.naming import PHOTO_VIEWS, photo_view

_KNOWN_EXT = MESH_EXT + IMAGE_EXT + (".mtl", ".json", ".csv")

_VIEWS = "|".join(PHOTO_VIEWS)
#: a photo's key in `ScanCapture.photos` (dataset `photo_<key>`): a view, a repeated view, or an index
PHOTO_KEY_RE = re.compile(rf"^(?:(?:{_VIEWS})(?:_\d{{1,3}})?|\d{{1,3}})$")
#: every file name the driver reports
ALIAS_RE = re.compile(
    rf"^capture_\d{{1,6}}/(?:mesh|material|image|landmarks|other|photo_(?:(?:{_VIEWS})(?:_\d{{1,3}})?|\d{{1,3}}))"
    rf"(?:_\d{{1,3}})?(?:\.(?:obj|ply|stl|mtl|png|jpg|jpeg|json|csv))?$"
)


def _ext(name: str) -> str:
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot > 0 else ""
    return ext if ext in _KNOWN_EXT else ""


def _kind(name: str, group_kind: str) -> str:
    ext = _ext(name)
    if ext in MESH_EXT:
        return "mesh"
    if ext == ".mtl":
        return "material"
    if ext in IMAGE_EXT:
        return "photo" if group_kind == "photo" else "image"
    if ext in (".json", ".csv"):
        return "landmarks"
    return "other"


@dataclass(frozen=True)
class FileAliases:
    """The record's names for the files of one capture group (`of(real name)`), and its photos' keys."""

    label: str
    by_name: dict[str, str] = field(default_factory=dict)
    photo_keys: dict[str, str] = field(default_factory=dict)

    def of(self, name: str) -> str:
        """The alias of a file of the group (KeyError for a name that is not one: never fall back to it)."""
        return self.by_name[name]

    def names(self, names: Sequence[str]) -> list[str]:
        return [self.by_name[n] for n in names]


def _unique(base: str, used: set[str]) -> str:
    out, k = base, 1
    while out in used:
        k += 1
        out = f"{base}_{k}"
    used.add(out)
    return out


def photo_keys(names: Sequence[str]) -> dict[str, str]:
    """Key of each photo (in `names` order): its view, `<view>_2` for a second one, else `1`, `2`, ... ."""
    used: set[str] = set()
    keys: dict[str, str] = {}
    index = 0
    for name in names:
        view = photo_view(name)
        if view is None:
            index += 1
            keys[name] = _unique(str(index), used)
        else:
            keys[name] = _unique(view, used)
    return keys


def alias_group(number: int, names: Sequence[str], group_kind: str) -> FileAliases:
    """Aliases for a group's files (sorted names give stable aliases), `capture_<number>/<kind>[_k].<ext>`."""
    label = f"capture_{number}"
    ordered = sorted(names)
    keys = photo_keys([n for n in ordered if _kind(n, group_kind) == "photo"])
    used: set[str] = set()
    by_name: dict[str, str] = {}
    for name in ordered:
        kind = _kind(name, group_kind)
        base = f"photo_{keys[name]}" if kind == "photo" else kind
        ext = _ext(name)
        stem, k = base, 1
        while stem + ext in used:  # same kind and extension twice: mesh_2.obj
            k += 1
            stem = f"{base}_{k}"
        used.add(stem + ext)
        by_name[name] = f"{label}/{stem}{ext}"
    return FileAliases(label, by_name, keys)
