"""Helpers for the scanner driver tests: small generator faces, a fast-polling source, a poll loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.scanner.capture import ScanCapture
from drivers.scanner.folder_watch import WatchConfig
from drivers.scanner.simulator import ScannerSimulator
from drivers.scanner.source import ScannerConfig, ScannerSource

#: a coarse generator face (1 536 vertices, > the 1 000 minimum) keeps the tests fast
SMALL_FACE = {"n_around": 64, "n_rings": 24}


def fast_config(folder: Path, **watch: Any) -> ScannerConfig:
    opts: dict[str, Any] = {"poll_interval_s": 0.02, "stable_polls": 2, "reject_grace_s": 0.3, "orphan_timeout_s": 1.0}
    opts.update(watch)
    return ScannerConfig(watch=WatchConfig(folder=folder, **opts), simulated=True)


class Poller:
    """Polls a source until a condition holds, collecting captures."""

    def __init__(self, src: ScannerSource) -> None:
        self.src = src
        self.captures: list[ScanCapture] = []

    def until(self, pred: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.captures += self.src.poll()
            if pred():
                return True
            time.sleep(interval)
        return False


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    d = tmp_path / "export"
    d.mkdir()
    return d


@pytest.fixture
def sim(export_dir: Path) -> ScannerSimulator:
    return ScannerSimulator(export_dir, write_mode="direct", face_kwargs=SMALL_FACE, seed=1)


@pytest.fixture
def source(export_dir: Path) -> ScannerSource:
    src = ScannerSource(fast_config(export_dir))
    src.open()
    return src
