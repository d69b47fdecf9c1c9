"""How a file name maps to a capture group, a scan condition and a repetition.

Grouping: files sharing a stem form one capture (`P01_max_opening_2.obj/.mtl/.png/.json`). A landmark file
may also be named `<stem>_landmarks.json|csv` or `<stem>.landmarks.json|csv`. Files an OBJ's MTL references
belong to the OBJ's capture whatever their stem. Images whose stem contains the token `photo`/`photos` are
2D photos; the group key is the stem up to and including that token (`P01_photo_frontal.jpg` and
`P01_photo_profile_l.jpg` are one photo capture `P01_photo`).

Condition, in order of precedence:
1. a sidecar JSON (`"condition"`, `"repetition"`),
2. the stem: a token `rest`, `max_opening` (or `maxopening`, `max-opening`, `opening`), `max_lip_stretch`
   (or `lip_stretch`, `stretch`), optionally followed by `_<n>` / `-<n>` / `<n>` = repetition,
3. the current protocol step given by `set_step` (`rest` / `max_opening` / `max_lip_stretch`, or a step
   named `scan_<condition>` or `face_<condition>`; other steps such as `emg_rest` do not count),
4. otherwise `unassigned` (ingested, flagged by a `scan.unassigned` event for the operator to resolve).
A missing repetition number is the next free one for that condition.

Photo view: what follows the `photo` token of a photo's stem, matched against a fixed vocabulary
(`P01_photo_frontal.jpg` -> `frontal`, `P01_photo_3-4_L.jpg` -> `three_quarter_left`); anything else is no view
(the record then numbers the photo). The view is one of `PHOTO_VIEWS`, never text copied from the name.
"""

from __future__ import annotations

import re

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download", ".filepart")

_COND = [
    ("max_lip_stretch", r"max[_-]?lip[_-]?stretch|lip[_-]?stretch|stretch"),
    ("max_opening", r"max[_-]?opening|maxopen|opening"),
    ("rest", r"rest"),
]
_COND_RE = [(cond, re.compile(rf"(?:^|[_\-. ])(?:{pat})(?:[_\-]?(\d{{1,2}}))?(?=$|[_\-. ])", re.I)) for cond, pat in _COND]
_LANDMARK_SUFFIX = re.compile(r"([._-]landmarks?|[._-]lmk)$", re.I)
_PHOTO = re.compile(r"^(.*?(?:^|[_\-.])photos?)(?=$|[_\-.])", re.I)


def is_partial(name: str) -> bool:
    """Names a copier uses while a file is incomplete (ignored until renamed), and hidden/editor temp files."""
    low = name.lower()
    return low.endswith(PARTIAL_SUFFIXES) or name.startswith(".") or name.startswith("~$")


def group_key(name: str) -> str:
    """The capture a file belongs to, before MTL references are applied."""
    stem, _, suffix = name.rpartition(".")
    if not stem:
        stem = name
    suffix = suffix.lower()
    if suffix in ("png", "jpg", "jpeg"):
        m = _PHOTO.match(stem)
        if m:
            return m.group(1)
    if suffix in ("json", "csv"):
        stem = _LANDMARK_SUFFIX.sub("", stem)
    return stem


def is_photo_key(key: str) -> bool:
    return bool(_PHOTO.match(key)) and _PHOTO.match(key).group(1) == key  # type: ignore[union-attr]


def condition_from_name(stem: str) -> tuple[str | None, int | None]:
    """(condition, repetition) found in a stem, or (None, None)."""
    for cond, rx in _COND_RE:
        m = rx.search(stem)
        if m:
            rep = int(m.group(1)) if m.group(1) else None
            return cond, rep if rep and rep >= 1 else None
    return None, None


def condition_from_step(step: str) -> str | None:
    """Condition of a protocol step: the condition names themselves, or a step named like `scan_<condition>` /
    `face_<condition>`. Other steps (e.g. `emg_rest`) say nothing about scans: None."""
    low = step.lower()
    if low not in ("rest", "max_opening", "max_lip_stretch") and not low.startswith(("scan", "face")):
        return None
    cond, _ = condition_from_name(low)
    return cond


#: the views the protocol's 2D photos are named by in the record (frontal, 3/4 left/right, profile)
PHOTO_VIEWS: tuple[str, ...] = (
    "frontal", "profile", "profile_left", "profile_right", "three_quarter_left", "three_quarter_right",
)
_SIDE = {"l": "left", "left": "left", "g": "left", "r": "right", "right": "right", "d": "right"}
_VIEW_WORDS = {
    "frontal": "frontal", "front": "frontal", "face": "frontal", "en_face": "frontal", "anterior": "frontal",
    "profile": "profile", "lateral": "profile", "side": "profile",
    "three_quarter": "three_quarter", "three_quarters": "three_quarter", "3_4": "three_quarter",
    "34": "three_quarter", "3q": "three_quarter", "oblique": "three_quarter",
}
_VIEW_RE = re.compile(
    r"^(?:(?P<side1>l|left|g|r|right|d)_)?(?P<word>[a-z0-9_]+?)(?:_(?P<side2>l|left|g|r|right|d))?(?:_\d{1,2})?$"
)


def photo_view(name: str) -> str | None:
    """The view of a photo file (one of `PHOTO_VIEWS`), or None when its name says none we know."""
    stem = name.rpartition(".")[0] or name
    m = _PHOTO.match(stem)
    if not m:
        return None
    rest = re.sub(r"[\s.\-]+", "_", stem[m.end():].lower()).strip("_")
    v = _VIEW_RE.match(rest)
    if not v or (v.group("side1") and v.group("side2")):
        return None
    word = _VIEW_WORDS.get(v.group("word"))
    side = _SIDE.get(v.group("side1") or v.group("side2") or "")
    if word is None:
        return None
    if word == "frontal":
        return None if side else "frontal"
    if word == "three_quarter":
        return f"three_quarter_{side}" if side else None
    return f"profile_{side}" if side else "profile"
