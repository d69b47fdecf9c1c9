"""Where visits live in DATA_DIR.

```
DATA_DIR/<SUBJECT>_<VISIT>.h5          sealed visit files (read-only)
DATA_DIR/MANIFEST.sha256              one line per sealed file
DATA_DIR/.open/<SUBJECT>_<VISIT>/     a visit being recorded (or left open by a crash):
    journal/                           the crash-safe record (meta, events, streams/<name>, scans)
    <key>.h5.partial                   the visit file being built by the compactor
DATA_DIR/.sealed-journals/<key>/      the journal of a sealed visit, kept as a second copy
```
"""

from __future__ import annotations

import os
from pathlib import Path

from acquisition.journal.layout import makedirs_durable
from acquisition.visitfile.manifest import fsync_dir


class VisitExists(RuntimeError):
    """The visit was already recorded (sealed) or is open / awaiting recovery."""


class VisitStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def final_path(self, key: str) -> Path:
        return self.data_dir / f"{key}.h5"

    def open_dir(self, key: str) -> Path:
        return self.data_dir / ".open" / key

    def journal_dir(self, key: str) -> Path:
        return self.open_dir(key) / "journal"

    def partial_path(self, key: str) -> Path:
        return self.open_dir(key) / f"{key}.h5.partial"

    def create(self, key: str) -> Path:
        """Claim the visit: refuse if already sealed or open. Returns the open directory."""
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
        root = self.data_dir / ".open"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "journal").is_dir())

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
        return dst
