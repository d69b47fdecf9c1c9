"""Events carry the step in which they happened, not the step current when the manager collected them.

Before: the Aurora's `device.opened` at t=376.258 (during pre-flight) was tagged `scan_rest`, a later step.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import h5py

from acquisition.clock import utc_iso
from acquisition.events import Event
from acquisition.lslenv import local_clock
from tests.sessions.fake_sources import SwitchableSource
from tests.sessions.helpers import open_session


class LateReporter(SwitchableSource):
    """Holds its device events until `release` is set (a driver that reports late)."""

    def __init__(self) -> None:
        super().__init__("late", {"x": 100.0})
        self.release = threading.Event()
        self._held: list[Event] = []

    def note(self, name: str, t: float, step: str = "") -> None:
        self._held.append(Event(t_lsl=t, utc=utc_iso(), kind="device", name=name, stream="x", step=step))

    def open(self) -> None:
        super().open()
        self.note("device.opened", local_clock())

    def drain_events(self) -> Sequence[Event]:
        if not self.release.is_set():
            return []
        out, self._held = self._held, []
        return out


def test_device_events_tagged_by_their_own_time(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    src = LateReporter()
    s.start_step("preflight")
    s.add_source(src)  # device.opened now, during pre-flight
    time.sleep(0.05)
    s.end_step()
    time.sleep(0.05)
    src.note("link.disconnected", local_clock())  # between two steps
    time.sleep(0.05)
    s.start_step("scan_rest")
    time.sleep(0.05)
    src.note("link.reconnected", local_clock())
    src.note("tagged.by_source", local_clock(), step="its_own")
    t_before_visit = local_clock() - 3600.0
    src.note("stale.report", t_before_visit)
    src.release.set()
    time.sleep(0.3)
    sealed = s.close()
    with h5py.File(sealed.path, "r") as f:
        rows = f["events/table"][:]
    step = {r["name"].decode(): r["step"].decode() for r in rows}
    assert step["device.opened"] == "preflight"
    assert step["link.disconnected"] == ""
    assert step["link.reconnected"] == "scan_rest"
    assert step["tagged.by_source"] == "its_own"
    assert step["stale.report"] == ""
    started = [json.loads(r["payload"]) for r in rows if r["name"].decode() == "step.started"]
    assert len(started) == 2


def test_timeline_intervals() -> None:
    from sessions.step_timeline import StepTimeline

    t = StepTimeline()
    assert t.at(0.0) == ""
    t.begin(1.0, "a")
    assert (t.at(0.99), t.at(1.0), t.at(100.0)) == ("", "a", "a")  # open until it ends
    t.end(2.0)
    assert (t.at(1.99), t.at(2.0)) == ("a", "")  # start inclusive, end exclusive
    t.begin(3.0, "b")
    t.begin(4.0, "c")  # b ends where c starts
    assert (t.at(2.5), t.at(3.5), t.at(4.0)) == ("", "b", "c")
    t.begin(3.9, "d")  # a clock that went back never reorders the past
    assert (t.at(3.5), t.at(4.5)) == ("b", "d")
