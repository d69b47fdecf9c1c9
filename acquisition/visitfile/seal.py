"""Seal a finished visit file: verify against the journal, fsync, move into place without overwriting,
make read-only, list its SHA-256 in the manifest."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

from acquisition.log import get_logger
from acquisition.visitfile.manifest import append_manifest, fsync_dir, sha256_file
from acquisition.visitfile.verify import VerifyReport, verify_file
from acquisition.visitfile.writer import StreamTally


class SealError(RuntimeError):
    """The file could not be sealed; the journal still holds the visit and nothing was overwritten."""


def seal_file(
    partial: Path,
    final: Path,
    *,
    data_dir: Path,
    expected: Mapping[str, StreamTally],
    expected_events: int,
) -> tuple[str, VerifyReport]:
    log = get_logger("visitfile", file=str(final))
    if final.exists():
        raise SealError(f"{final} already exists: a visit file is never overwritten")
    # the file's SHA-256 is computed alongside the verification (hashlib releases the GIL): the file no longer
    # changes once finished, and the hard link below keeps the same bytes
    digest_box: list[str] = []
    hasher = threading.Thread(target=lambda: digest_box.append(sha256_file(partial)), name="seal-sha256")
    hasher.start()
    report = verify_file(partial, expected=expected, expected_events=expected_events)
    hasher.join()
    if not report.ok:
        log.error("visitfile.verify_failed", problems=report.problems)
        raise SealError(f"{partial.name} failed verification: " + "; ".join(report.problems))
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(partial, final)  # fails if `final` exists: never overwrite
    except FileExistsError:
        raise SealError(f"{final} already exists: a visit file is never overwritten") from None
    os.unlink(partial)
    os.chmod(final, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    fsync_dir(final.parent)
    digest = digest_box[0]
    append_manifest(data_dir, final, digest)
    log.info("visitfile.sealed", sha256=digest, streams=len(report.streams))
    return digest, report
