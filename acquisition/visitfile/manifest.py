"""`DATA_DIR/MANIFEST.sha256`: one `sha256sum`-compatible line per sealed visit file, append-only."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

MANIFEST_NAME = "MANIFEST.sha256"


def sha256_file(path: Path, *, block: int = 8 * 1024 * 1024) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(block)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_manifest(data_dir: Path, file: Path, digest: str) -> None:
    """Append `<digest>  <relative path>` under an exclusive lock, then fsync."""
    rel = os.path.relpath(file, data_dir)
    manifest = data_dir / MANIFEST_NAME
    fd = os.open(manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{digest}  {rel}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(data_dir)


def read_manifest(data_dir: Path) -> dict[str, str]:
    """{relative path: digest}. A file listed twice is a problem the caller reports (the last one wins here)."""
    manifest = data_dir / MANIFEST_NAME
    out: dict[str, str] = {}
    if not manifest.exists():
        return out
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        digest, _, rel = line.partition("  ")
        out[rel] = digest
    return out


def check_manifest(data_dir: Path) -> list[str]:
    """Problems: listed file missing or changed; a visit file not listed."""
    problems: list[str] = []
    listed = read_manifest(data_dir)
    for rel, digest in sorted(listed.items()):
        p = data_dir / rel
        if not p.exists():
            problems.append(f"{rel}: listed in {MANIFEST_NAME} but missing")
        elif sha256_file(p) != digest:
            problems.append(f"{rel}: SHA-256 differs from {MANIFEST_NAME} (file changed after sealing)")
    for p in sorted(data_dir.glob("*.h5")):
        rel = os.path.relpath(p, data_dir)
        if rel not in listed:
            problems.append(f"{rel}: visit file not listed in {MANIFEST_NAME}")
    return problems
