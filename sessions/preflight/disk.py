"""Gate `disk_space`: the data directory's disk has room for at least `disk_factor` (2) x the visit's estimated size.

Why twice: while the visit runs its samples are on disk twice, in the journal and in the visit file being built
from it (the journal is archived, not deleted, at the seal). A full disk is the one fault that stops a visit
(`VisitFailed`), so it is refused before the first step rather than met in the middle of one.

The estimate is uncompressed (compression only helps, and noise does not compress): for each stream,
`nominal_rate x (channels x dtype size + 8 bytes of t_lsl + 8 of device_seq) x duration`, plus an allowance per
expected scan. The duration is the protocol's nominal total, but at least `visit_floor_s`: every stream records
from the pre-flight to the close, through the manual steps whose nominal duration is 0. An irregular stream
(rate 0) is counted at 100 samples/s, the order of the irregular streams the drivers give (balance board events).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from acquisition.preflight_config import PreflightSettings
from acquisition.stream import StreamSpec
from sessions.preflight.result import GateResult, gate

#: bytes stored per sample beside the data: t_lsl (float64) and device_seq (int64)
PER_SAMPLE_OVERHEAD = 16
#: rate assumed for an irregular stream (nominal_rate 0)
IRREGULAR_RATE_HZ = 100.0
_MB = 1024 * 1024


def visit_duration_s(step_seconds: Iterable[float], *, floor_s: float) -> float:
    """The protocol's nominal total (the steps' nominal lengths), at least `floor_s`."""
    return max(floor_s, float(sum(step_seconds)))


def stream_bytes_per_s(spec: StreamSpec) -> float:
    rate = spec.nominal_rate if spec.nominal_rate > 0 else IRREGULAR_RATE_HZ
    return rate * (spec.n_channels * spec.np_dtype.itemsize + PER_SAMPLE_OVERHEAD)


def estimate_visit_bytes(specs: Sequence[StreamSpec], duration_s: float, *, scans: int = 0,
                         scan_bytes: float = 0.0) -> int:
    """Uncompressed size of a visit recording `specs` for `duration_s`, plus `scans` x `scan_bytes`."""
    return int(sum(stream_bytes_per_s(s) for s in specs) * duration_s + scans * scan_bytes)


def check_disk(free_bytes: int, estimated_bytes: int, *, path: Path, settings: PreflightSettings,
               duration_s: float | None = None) -> GateResult:
    """Pass when `free_bytes` >= `disk_factor` x `estimated_bytes`."""
    need = int(settings.disk_factor * estimated_bytes)
    measured = {"free_bytes": int(free_bytes), "estimated_bytes": int(estimated_bytes), "path": str(path)}
    if duration_s is not None:
        measured["duration_s"] = round(duration_s, 1)
    failures = [] if free_bytes >= need else [
        f"{path}: {free_bytes / _MB:.0f} MB free, {need / _MB:.0f} MB needed ({settings.disk_factor:g} x the "
        f"visit's estimated {estimated_bytes / _MB:.0f} MB): free space or use another data disk"]
    return gate("disk_space", failures, f"{free_bytes / _MB:.0f} MB free, {need / _MB:.0f} MB needed",
                measured=measured, threshold={"factor": settings.disk_factor, "needed_bytes": need})


def free_bytes(path: Path) -> int:
    """Free space for an unprivileged writer on `path`'s filesystem (`shutil.disk_usage`)."""
    return int(shutil.disk_usage(path).free)
