"""Property: random bytes named like a mesh never crash the watcher; each is one counted, explained rejection."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.scanner.folder_watch import WatchConfig
from drivers.scanner.source import ScannerConfig, ScannerSource

PLY_HEAD = b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nend_header\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(st.binary(max_size=4096), st.binary(max_size=512).map(lambda b: PLY_HEAD + b),
                   st.text(max_size=800).map(lambda t: ("v 1 2 3\nf 1 2 3\n" + t).encode("utf-8", "replace"))),
    suffix=st.sampled_from([".obj", ".ply", ".stl", ".OBJ"]),
)
def test_random_bytes_never_crash_and_are_counted(data: bytes, suffix: str) -> None:
    ticks = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cfg = ScannerConfig(watch=WatchConfig(folder=folder, poll_interval_s=0.01, stable_polls=1,
                                              reject_grace_s=0.5, orphan_timeout_s=5.0))
        src = ScannerSource(cfg, monotonic=lambda: float(next(ticks)))  # each poll is one second later
        src.open()
        name = f"capture_rest_1{suffix}"
        (folder / name).write_bytes(data)
        caps = []
        for _ in range(4):
            caps += src.poll()
        assert caps == []
        c = src.counters()
        assert c["captures_rejected"] == 1 and c["files_rejected"] == 1
        assert (folder / "rejected" / name).read_bytes() == data
        alias = f"capture_1/mesh{suffix.lower()}"  # the record's name for it, never the file's own
        reason = (folder / "rejected" / f"{name}.reason.txt").read_text()
        assert reason.startswith(f"{alias} ({name}): ") and len(reason) > len(alias) + len(name) + 6
        ev = [e for e in src.drain_events() if e.name == "scan.rejected"]
        assert len(ev) == 1 and ev[0].payload["file"] == alias
        assert "capture_rest" not in repr(ev[0].payload), ev[0].payload
