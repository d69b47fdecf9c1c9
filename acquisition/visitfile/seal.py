"""Seal a finished visit file: verify against the journal, fsync, move into place without overwriting,
make read-only, list its SHA-256 in the manifest."""

from __future__ import annotations

import errno
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


#: mode of a sealed visit file
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def seal_os_error(exc: OSError, final: Path) -> str:
    """One line for an OS error while sealing `final`; a full disk says 'no space' first."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on device while sealing {final.name} ({exc.strerror or exc}); free space, then run "
                f"`amuse-acq recover {final.parent}`: the journal still holds the visit")
    return f"sealing {final.name} failed: {exc}; the journal still holds the visit"


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
    digest = digest_box[0]
    # Order, so that a kill at any point leaves a state `recover` finishes: read-only BEFORE the link (the
    # sealed name is never writable), link (never overwrites), drop the partial name, then the manifest line.
    # A kill after the link leaves `final` (0444) and maybe a second link `partial`, which recover unlinks.
    try:
        os.chmod(partial, READ_ONLY)
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(partial, final)  # fails if `final` exists: never overwrite
        except FileExistsError:
            raise SealError(f"{final} already exists: a visit file is never overwritten") from None
        fsync_dir(final.parent)
        os.unlink(partial)
        fsync_dir(partial.parent)
        append_manifest(data_dir, final, digest, content_root=report.content_root)
    except OSError as exc:
        raise SealError(seal_os_error(exc, final)) from exc
    log.info("visitfile.sealed", sha256=digest, streams=len(report.streams))
    return digest, report
