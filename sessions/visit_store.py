"""Where visits live in DATA_DIR, and the locks that keep two processes from sealing the same visit.

```
DATA_DIR/<SUBJECT>_<VISIT>.h5          sealed visit files (read-only)
DATA_DIR/MANIFEST.sha256              one line per sealed file
DATA_DIR/.lock                        flock: held by `recover` for its whole run, and briefly by each claim
DATA_DIR/.open/<SUBJECT>_<VISIT>/     a visit being recorded (or left open by a crash):
    visit.lock                         flock: held by the recorder from the claim until the visit is sealed
    journal/                           the crash-safe record (meta, events, streams/<name>, scans)
    <key>.h5.partial                   the visit file being built by the compactor
DATA_DIR/.sealed-journals/<key>/      the journal of a sealed visit, kept as a second copy
DATA_DIR/.unrecoverable/<key>.<utc>/  an open visit `recover` could not seal, moved aside whole (with
    <key>.<utc>.json beside it)        why), freeing its subject and visit code
```

Why two locks: `recover` must never seal a visit still being recorded, and two `recover` runs must never both
seal one. The claim (mkdir + visit lock) happens under the data-dir lock, so `recover`, which holds that lock,
never sees a visit folder between its creation and its lock: a folder without a held `visit.lock` is a crash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from acquisition.clock import utc_iso
from acquisition.journal.layout import makedirs_durable
from acquisition.visitfile.manifest import fsync_dir
from sessions.lockfile import HeldLock, LockBusy, acquire, holder_line

DATA_LOCK = ".lock"
VISIT_LOCK = "visit.lock"
UNRECOVERABLE_DIR = ".unrecoverable"
#: how long a claim waits for the data-dir lock (held for a whole `recover` run) before refusing
CLAIM_WAIT_S = 5.0


class VisitExists(RuntimeError):
    """The visit was already recorded (sealed) or is open / awaiting recovery."""


class DataDirBusy(VisitExists):
    """The data directory is locked (by `recover`): no visit can be claimed or recovered right now."""


class VisitStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._claimed: dict[str, HeldLock] = {}  # visit locks taken by `claim`, released by `archive`/`release`

    def final_path(self, key: str) -> Path:
        return self.data_dir / f"{key}.h5"

    def open_dir(self, key: str) -> Path:
        return self.data_dir / ".open" / key

    def journal_dir(self, key: str) -> Path:
        return self.open_dir(key) / "journal"

    def partial_path(self, key: str) -> Path:
        return self.open_dir(key) / f"{key}.h5.partial"

    def visit_lock_path(self, key: str) -> Path:
        return self.open_dir(key) / VISIT_LOCK

    # -- locks -----------------------------------------------------------------------------------
    def lock_data_dir(self, *, wait_s: float = 0.0) -> HeldLock:
        """The data-dir lock (`recover` takes it without waiting). Raises `DataDirBusy` naming the holder."""
        try:
            return acquire(self.data_dir / DATA_LOCK, what=f"data directory {self.data_dir}", wait_s=wait_s)
        except LockBusy as exc:
            raise DataDirBusy(str(exc)) from None

    def claim(self, key: str, *, wait_s: float = CLAIM_WAIT_S) -> HeldLock:
        """Claim the visit for recording: refuse if already sealed or open; create its folder and hold its
        `visit.lock` (returned). Keep the returned lock until the visit is sealed, then `release()` it: while
        it is held, `recover` leaves the visit alone. `archive` (the seal's last step) releases it."""
        with self.lock_data_dir(wait_s=wait_s):
            self._create(key)
            lock = acquire(self.visit_lock_path(key), what=f"visit {key}")
        self._claimed[key] = lock
        return lock

    def release(self, key: str) -> None:
        """Give up the visit lock taken by `claim` (a visit that failed to seal: let `recover` have it)."""
        lock = self._claimed.pop(key, None)
        if lock is not None:
            lock.release()

    def lock_visit(self, key: str) -> HeldLock | None:
        """For `recover` (holding the data-dir lock): take an open visit's lock without writing anything.
        None if the folder has no `visit.lock` (a crash before the claim finished: nobody records it).
        Raises `LockBusy` naming the recorder if the visit is still being recorded."""
        try:
            return acquire(self.visit_lock_path(key), what=f"visit {key}", create=False)
        except FileNotFoundError:
            return None

    def visit_holder(self, key: str) -> str:
        return holder_line(self.visit_lock_path(key))

    # -- claiming, listing, archiving ------------------------------------------------------------
    def create(self, key: str) -> Path:
        """Create the visit's open folder (refused if sealed or open), under the data-dir lock, without a
        visit lock: `claim` is what a recorder uses. Returns the open directory."""
        with self.lock_data_dir(wait_s=CLAIM_WAIT_S):
            return self._create(key)

    def _create(self, key: str) -> Path:
        final = self.final_path(key)
        if final.exists():
            raise VisitExists(f"visit {key} is already recorded in {final}; a visit file is never overwritten")
        makedirs_durable(self.data_dir / ".open")
        d = self.open_dir(key)
        try:
            d.mkdir()
        except FileExistsError:
            raise VisitExists(
                f"visit {key} has an unsealed recording in {d}; run `amuse-acq recover {self.data_dir}` first"
            ) from None
        fsync_dir(d.parent)
        return d

    def open_keys(self) -> list[str]:
        """Every folder under `.open/`, with or without a journal (a kill right after the claim leaves none)."""
        root = self.data_dir / ".open"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def archive(self, key: str) -> Path:
        """After sealing: keep the journal as a second copy under .sealed-journals/ (never deleted here)."""
        dst_root = self.data_dir / ".sealed-journals"
        makedirs_durable(dst_root)
        dst = dst_root / key
        n = 1
        while dst.exists():
            n += 1
            dst = dst_root / f"{key}.{n}"
        os.rename(self.open_dir(key), dst)
        fsync_dir(dst_root)
        fsync_dir(self.data_dir / ".open")
        self.release(key)  # sealed and archived: nothing left for recover to guard against
        return dst

    def set_aside(self, key: str, reason: str) -> Path:
        """Move an open visit that cannot be recovered to `.unrecoverable/<key>.<utc>/` in one rename (nothing
        inside it is changed), write why beside it, and so free its subject and visit code."""
        root = self.data_dir / UNRECOVERABLE_DIR
        makedirs_durable(root)
        stamp = utc_iso().replace(":", "").replace("-", "")
        dst = root / f"{key}.{stamp}"
        os.rename(self.open_dir(key), dst)
        fsync_dir(root)
        fsync_dir(self.data_dir / ".open")
        note = {"key": key, "set_aside_utc": utc_iso(), "reason": reason, "folder": dst.name}
        try:
            (root / f"{dst.name}.json").write_text(json.dumps(note, sort_keys=True) + "\n", encoding="utf-8")
        except OSError:
            pass  # the rename is what frees the key; the note is for the data manager (a full disk loses it)
        return dst
