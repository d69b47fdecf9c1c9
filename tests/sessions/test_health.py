"""`all_progressing()`: the condition on which the service feeds its systemd watchdog.

A source whose `read` never returns (a driver stuck in a syscall, a dead USB hub) must make it false, so that the
watchdog restarts the service; healthy sources, and a source that is merely retried with a backoff (an unplugged
device: restarting would not plug it back), keep it true.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from acquisition.chunk import Chunk
from tests.sessions.fake_sources import SwitchableSource
from tests.sessions.helpers import open_session


class BlockingSource(SwitchableSource):
    """A paced source whose `read` blocks, without returning, while `stalled` is set (bounded: 30 s)."""

    def __init__(self, name: str = "stuck") -> None:
        super().__init__(name, {name: 200.0})
        self.stalled = threading.Event()
        self.released = threading.Event()
        self.blocked = threading.Event()

    def read(self, timeout: float) -> Sequence[Chunk]:
        if self.stalled.is_set():
            self.blocked.set()
            self.released.wait(30.0)
        return super().read(timeout)


class AlwaysFailing(SwitchableSource):
    def read(self, timeout: float) -> Sequence[Chunk]:
        raise OSError("device unplugged")


def _always(pred: object, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not pred():  # type: ignore[operator]
            return False
        time.sleep(0.05)
    return True


def test_healthy_sources_keep_it_true(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    s.add_source(SwitchableSource("a", {"a": 500.0}))
    s.add_source(SwitchableSource("b", {"b": 50.0}))
    assert _always(lambda: s.all_progressing(max_age_s=0.5), 1.5)
    s.close()
    assert not s.all_progressing(max_age_s=0.5)  # nothing runs once sealed


def test_a_stalled_source_makes_it_false_until_it_reads_again(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    stuck = BlockingSource()
    s.add_source(stuck)
    s.add_source(SwitchableSource("fine", {"fine": 200.0}))
    time.sleep(0.3)
    assert s.all_progressing(max_age_s=0.5)
    stuck.stalled.set()
    assert stuck.blocked.wait(2.0)
    time.sleep(0.8)
    assert not s.all_progressing(max_age_s=0.5)
    assert s.status()["sources"]["stuck"]["since_progress_s"] >= 0.5
    assert s.status()["sources"]["fine"]["since_progress_s"] < 0.5
    stuck.stalled.clear()
    stuck.released.set()
    time.sleep(0.3)
    assert s.all_progressing(max_age_s=0.5)
    assert s.close().report.ok


def test_a_source_retried_with_a_backoff_is_not_a_stall(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    s.add_source(AlwaysFailing("gone", {"gone": 200.0}))
    time.sleep(1.0)  # failed (3 reads): now waiting 0.8 s, then 1.6 s, longer than the age limit
    assert s.status()["sources"]["gone"]["state"] == "failed"
    assert _always(lambda: s.all_progressing(max_age_s=0.5), 2.0)
    s.close()
