"""Helpers of the stabilometry driver tests."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest


def pump(source, seconds: float, *, until: Callable[[dict], bool] | None = None, poll: float = 0.05):
    """Read `source` for `seconds` (or until `until(out)`); returns {stream: [chunks]} and the events seen."""
    out: dict[str, list] = defaultdict(list)
    events: list = []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        for c in source.read(poll):
            out[c.stream].append(c)
        events.extend(source.drain_events())
        if until is not None and until(out):
            break
    events.extend(source.drain_events())
    return out, events


def cat(chunks, attr: str = "data") -> np.ndarray:
    return np.concatenate([getattr(c, attr) for c in chunks])


def names(events) -> list[str]:
    return [e.name for e in events]


@pytest.fixture
def tmp_link(tmp_path):
    return str(tmp_path / "cell-board")
