"""Polling watcher over the scanner's export folder: finds complete capture groups, moves files aside.

No inotify dependency: every `poll()` lists the folder (regular files only, not sub-folders) and stats each
file. A file counts as complete when its size and mtime have not changed over `stable_polls` polls spanning at
least `stable_polls * poll_interval_s` seconds; names a copier uses while writing (`*.part`, `*.tmp`,
`*.crdownload`, hidden dot-files, ...) are ignored until renamed. A capture *group* is the set of files that
share a stem (see `naming`), plus the MTL and texture files an OBJ references whatever their names. A group
is ready when all its files are complete. Whether the content is usable (parse, checks) is decided by the
caller; the watcher moves the files to `<folder>/ingested/` or `<folder>/rejected/` (with a
`<name>.reason.txt` per file) on request. Nothing is ever deleted or overwritten: on a name collision the
group goes into a fresh sub-folder `<key>-<utc>`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from acquisition.clock import utc_iso
from drivers.scanner.naming import group_key, is_partial, is_photo_key

MESH_EXT = (".obj", ".ply", ".stl")
IMAGE_EXT = (".png", ".jpg", ".jpeg")


class WatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: Path
    poll_interval_s: float = Field(default=0.2, gt=0)
    stable_polls: int = Field(default=2, ge=1, description="polls with unchanged size+mtime before a file counts")
    reject_grace_s: float = Field(
        default=5.0, ge=0, description="a capture that fails must stay unchanged this long before it is rejected"
    )
    orphan_timeout_s: float = Field(
        default=30.0, gt=0, description="files without a mesh (and not photos) wait this long for one"
    )
    ingested_dir: str = "ingested"
    rejected_dir: str = "rejected"


@dataclass
class _FileState:
    size: int
    mtime_ns: int
    stable: int
    changed_at: float


@dataclass(frozen=True)
class CaptureGroup:
    """A set of complete files that make one capture (or an orphan file set)."""

    key: str
    files: tuple[Path, ...]
    kind: str  # "mesh" | "photo" | "orphan"
    signature: tuple[tuple[str, int, int], ...]  # (name, size, mtime_ns) per file
    changed_at: float  # watcher clock when a file of the group last changed

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.files]


@dataclass
class _RefCache:
    key: tuple[int, int]
    refs: list[str] = field(default_factory=list)


_MTLLIB = re.compile(rb"(?m)^[ \t]*mtllib[ \t]+([^\r\n]+?)[ \t]*\r?$")
_MAPKD = re.compile(rb"(?mi)^[ \t]*(?:map_\w+|bump)[ \t]+(?:.*[ \t])?([^ \t\r\n]+)[ \t]*\r?$")


class FolderWatcher:
    def __init__(self, config: WatchConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.folder = Path(config.folder)
        self._clock = clock
        self._files: dict[str, _FileState] = {}
        self._refs: dict[str, _RefCache] = {}
        self.partial_seen: set[str] = set()

    @property
    def ingested(self) -> Path:
        return self.folder / self.config.ingested_dir

    @property
    def rejected(self) -> Path:
        return self.folder / self.config.rejected_dir

    # -- scanning ------------------------------------------------------------------------------------
    def poll(self) -> list[CaptureGroup]:
        """Update file states; return the groups whose files are all complete (orphans only after timeout)."""
        now = self._clock()
        seen: dict[str, os.stat_result] = {}
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            entries = []
        for e in entries:
            try:
                if not e.is_file(follow_symlinks=False):
                    continue
                if is_partial(e.name):
                    if not e.name.startswith("."):
                        self.partial_seen.add(e.name)
                    continue
                seen[e.name] = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
        for name in list(self._files):
            if name not in seen:
                del self._files[name]
                self._refs.pop(name, None)
        for name, st in seen.items():
            old = self._files.get(name)
            if old is None:
                self._files[name] = _FileState(st.st_size, st.st_mtime_ns, 0, now)
            elif (old.size, old.mtime_ns) == (st.st_size, st.st_mtime_ns):
                old.stable += 1
            else:
                old.size, old.mtime_ns, old.stable, old.changed_at = st.st_size, st.st_mtime_ns, 0, now
        return self._groups(now)

    def _complete(self, name: str, now: float) -> bool:
        st = self._files[name]
        cfg = self.config
        return st.stable >= cfg.stable_polls and now - st.changed_at >= cfg.stable_polls * cfg.poll_interval_s * 0.999

    def _references(self, name: str, pattern: re.Pattern[bytes]) -> list[str]:
        """Names referenced by a complete OBJ (mtllib) or MTL (map_*), cached per (size, mtime)."""
        st = self._files[name]
        key = (st.size, st.mtime_ns)
        cached = self._refs.get(name)
        if cached is not None and cached.key == key:
            return cached.refs
        try:
            data = (self.folder / name).read_bytes()
        except OSError:
            return []
        refs = [os.path.basename(m.group(1).decode("utf-8", "replace").strip()) for m in pattern.finditer(data)]
        self._refs[name] = _RefCache(key, refs)
        return refs

    def _groups(self, now: float) -> list[CaptureGroup]:
        groups: dict[str, list[str]] = {}
        for name in self._files:
            groups.setdefault(group_key(name), []).append(name)
        # files an OBJ's material library references join the OBJ's group, whatever their stem
        owner: dict[str, str] = {}
        for key, names in groups.items():
            for name in names:
                if name.lower().endswith(".obj") and self._complete(name, now):
                    for mtl in self._references(name, _MTLLIB):
                        owner[mtl] = key
                        if mtl in self._files and self._complete(mtl, now):
                            for tex in self._references(mtl, _MAPKD):
                                owner[tex] = key
        for ref, key in owner.items():
            if ref in self._files:
                src = group_key(ref)
                if src != key and ref in groups.get(src, []):
                    groups[src].remove(ref)
                    groups[key].append(ref)
        ready: list[CaptureGroup] = []
        for key, names in groups.items():
            if not names:
                continue
            names.sort()
            has_mesh = any(n.lower().endswith(MESH_EXT) for n in names)
            changed_at = max(self._files[n].changed_at for n in names)
            if has_mesh:
                kind = "mesh"
            elif is_photo_key(key) and all(n.lower().endswith(IMAGE_EXT + (".json",)) for n in names):
                kind = "photo"
            else:
                kind = "orphan"
                if now - changed_at < self.config.orphan_timeout_s or key in owner.values():
                    continue
            if not all(self._complete(n, now) for n in names):
                continue
            sig = tuple((n, self._files[n].size, self._files[n].mtime_ns) for n in names)
            ready.append(CaptureGroup(key, tuple(self.folder / n for n in names), kind, sig, changed_at))
        return ready

    def still_matches(self, group: CaptureGroup) -> bool:
        """True if every file of the group still has the size and mtime it had when the group was ready."""
        for path, (_, size, mtime_ns) in zip(group.files, group.signature):
            try:
                st = path.stat()
            except OSError:
                return False
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                return False
        return True

    # -- moving aside --------------------------------------------------------------------------------
    def move_ingested(self, group: CaptureGroup) -> list[Path]:
        return self._move(group, self.ingested, reasons=None)

    def move_rejected(self, group: CaptureGroup, reasons: dict[str, str]) -> list[Path]:
        """Move the group to rejected/, writing `<name>.reason.txt` (the problem) next to every file."""
        return self._move(group, self.rejected, reasons=reasons)

    def _move(self, group: CaptureGroup, target: Path, *, reasons: dict[str, str] | None) -> list[Path]:
        target.mkdir(parents=True, exist_ok=True)
        present = [p for p in group.files if p.exists()]
        dest_dir = target
        clash = any((target / p.name).exists() or (target / (p.name + ".reason.txt")).exists() for p in present)
        if clash:
            stamp = utc_iso().replace(":", "").replace("-", "")
            dest_dir = target / f"{group.key}-{stamp}"
            n = 1
            while dest_dir.exists():
                n += 1
                dest_dir = target / f"{group.key}-{stamp}-{n}"
            dest_dir.mkdir(parents=True)
        moved: list[Path] = []
        for p in present:
            dest = dest_dir / p.name
            if reasons is not None:
                reason = reasons.get(p.name, "")
                (dest_dir / (p.name + ".reason.txt")).write_text(reason.rstrip("\n") + "\n", encoding="utf-8")
            os.rename(p, dest)
            moved.append(dest)
            self._files.pop(p.name, None)
            self._refs.pop(p.name, None)
        return moved

    def forget(self, names: list[str]) -> None:
        for n in names:
            self._files.pop(n, None)
            self._refs.pop(n, None)
