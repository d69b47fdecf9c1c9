"""A source whose `read` keeps failing: one `source.failed` event and a backoff, then one `source.recovered`.

Before: one `source.read_failed` event (and one error log line) every 0.2 s for as long as the device was gone,
about 300 events for an unplugged minute.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import pytest

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.log import get_logger
from sessions.reader_thread import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    FAIL_AFTER,
    ReaderContext,
    ReaderState,
    ReaderThread,
)
from tests.sessions.fake_sources import SwitchableSource
from tests.sessions.helpers import open_session


class FlakySource(SwitchableSource):
    """A paced source whose `read` raises while `failing` is set (an unplugged device), counting each raise."""

    def __init__(self, name: str = "flaky", rate: float = 200.0) -> None:
        super().__init__(name, {name: rate})
        self.failing = threading.Event()
        self.failures = 0
        self.reads = 0

    def read(self, timeout: float) -> Sequence[Chunk]:
        self.reads += 1
        if self.failing.is_set():
            self.failures += 1
            raise OSError("device unplugged")
        return super().read(timeout)


def _events(path: Path, source: str) -> list[dict[str, Any]]:
    with h5py.File(path, "r") as f:
        rows = f["events/table"][:]
    evs = [{"t": float(r["t_lsl"]), "name": r["name"].decode(), "payload": json.loads(r["payload"])} for r in rows]
    return [e for e in evs if e["payload"].get("source") == source and e["name"].startswith("source.")
            and e["name"] not in ("source.started", "source.stopped")]


def _wait_for(pred: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


def test_a_source_that_keeps_failing_is_reported_once_backs_off_and_recovers(tmp_path: Path) -> None:
    s = open_session(tmp_path)
    src = FlakySource()
    s.add_source(src)
    s.add_source(SwitchableSource("steady", {"steady": 200.0}))
    time.sleep(0.3)
    src.failing.set()
    t_fail = time.monotonic()
    assert _wait_for(lambda: s.status()["sources"]["flaky"]["state"] == "failed", 2.0)
    time.sleep(2.4 - (time.monotonic() - t_fail))
    # failed reads at about 0, 0.2, 0.6, 1.4 s (then 3.0 s): at 0.2 s intervals it would have been 12 or more
    assert 3 <= src.failures <= 5, src.failures
    assert s.status()["sources"]["flaky"]["state"] == "failed"
    src.failing.clear()
    assert _wait_for(lambda: s.status()["sources"]["flaky"]["state"] == "running", 6.0)
    time.sleep(0.3)
    sealed = s.close()

    evs = _events(sealed.path, "flaky")
    assert [e["name"] for e in evs] == ["source.read_failed", "source.failed", "source.recovered"]
    assert evs[1]["payload"]["failures"] == FAIL_AFTER
    assert evs[2]["payload"]["failures"] == src.failures
    assert _events(sealed.path, "steady") == []
    with h5py.File(sealed.path, "r") as f:
        counters = json.loads(f["qc"].attrs["sources"])
        seq = f["streams/flaky/device_seq"][:]
        t = f["streams/flaky/t_lsl"][:]
    assert counters["flaky"]["read_errors"] == src.failures  # every failed read counted, none lost in the backoff
    assert counters["steady"]["read_errors"] == 0
    assert (t > evs[2]["t"]).sum() > 20, "recording went on after the recovery"
    assert len(seq) > 0


def test_one_failed_read_is_a_glitch_not_a_failure(tmp_path: Path) -> None:
    class OneGlitch(FlakySource):
        def read(self, timeout: float) -> Sequence[Chunk]:
            if self.reads == 5:
                self.failing.set()
            elif self.failing.is_set():
                self.failing.clear()
            return super().read(timeout)

    s = open_session(tmp_path)
    src = OneGlitch()
    s.add_source(src)
    assert _wait_for(lambda: src.failures == 1 and s.status()["sources"]["flaky"]["state"] == "running", 3.0)
    sealed = s.close()
    assert [e["name"] for e in _events(sealed.path, "flaky")] == ["source.read_failed", "source.recovered"]


class _Ctx:
    """A fake session for one reader: journals events into a list."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.t = 100.0

    def context(self) -> ReaderContext:
        def event(kind: str, name: str, **kw: Any) -> Event:
            self.events.append((name, dict(kw.get("payload") or {})))
            return Event(t_lsl=self.t, utc="2024-01-01T00:00:00Z", kind="device", name=name)

        return ReaderContext(
            clock=lambda: self.t, log=get_logger("test.reader"), journal=None,  # type: ignore[arg-type]
            event=event, journal_event=lambda ev: None, step_at=lambda t: "", current_step=lambda: "",
            journal_failed=lambda exc: RuntimeError(str(exc)),  # type: ignore[arg-type,return-value]
            visit_failed=lambda: False, chunk_recorded=lambda ch: None)


def test_backoff_doubles_from_the_first_wait_up_to_the_cap_and_the_state_is_read_only() -> None:
    ctx = _Ctx()
    r = ReaderThread(SwitchableSource("x", {"x": 10.0}), ctx.context())
    assert r.state is ReaderState.running
    with pytest.raises(AttributeError):
        r.state = ReaderState.failed  # type: ignore[misc]
    waits, states = [], []
    for _ in range(9):
        ctx.t += 1.0
        waits.append(r._attempt_failed(OSError("gone"), event_name="source.read_failed", error="OSError"))
        states.append(r.state)
    assert waits == [min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** k) for k in range(9)]
    assert waits[0] == 0.2 and waits[-1] == 5.0
    assert states[: FAIL_AFTER - 1] == [ReaderState.degraded] * (FAIL_AFTER - 1)
    assert states[FAIL_AFTER - 1:] == [ReaderState.failed] * (9 - FAIL_AFTER + 1)
    assert [n for n, _ in ctx.events] == ["source.read_failed", "source.failed"]
    assert r.errors == 9
    ctx.t += 2.5
    r._attempt_succeeded()
    assert r.state is ReaderState.running
    assert ctx.events[-1] == ("source.recovered", {"source": "x", "failures": 9, "outage_s": 10.5})
    r._attempt_succeeded()  # once per outage
    assert len(ctx.events) == 3
