"""The TX polling process: frames keep coming whatever the caller's read() cadence or a busy Python thread."""

from __future__ import annotations

import multiprocessing as mp
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from acquisition.source import SourceError
from drivers.jaw.aurora.config import AuroraConfig
from drivers.jaw.aurora.driver import TOOL_CHANNELS, AuroraJawSource
from drivers.jaw.aurora.poller import child_main
from drivers.jaw.aurora.simulator import AuroraSimulator
from drivers.jaw.aurora.tracker import AuroraTracker, Note, Reply

from .conftest import make_cfg


def frames_of(chunks: list) -> np.ndarray:
    tools = [c.data[:, TOOL_CHANNELS.index("frame")] for c in chunks if c.stream == "jaw_tools"]
    return np.concatenate(tools) if tools else np.empty(0, dtype=np.int64)


def test_polling_goes_on_while_nobody_reads(sim: AuroraSimulator) -> None:
    """A reader stalled for 1 s (40 frame periods) loses nothing: the child polled meanwhile."""
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    try:
        first = frames_of(list(src.read(0.2)))
        time.sleep(1.0)
        later = frames_of(list(src.read(0.0)))
    finally:
        src.close()
    assert len(first) >= 4
    assert 38 <= len(later) <= 46
    frames = np.concatenate([first, later])
    assert np.all(np.diff(frames) == 1)
    c = src.counters()
    assert c["gaps"] == 0 and c["samples_lost"] == 0 and c["tx_sent"] >= 2 * len(frames) - 4


ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[str]:
    """The simulator in a process of its own (as in the demo), so a busy thread here slows only the driver."""
    link = tmp_path / "aurora"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from drivers.jaw.aurora.simulate_cli import main_simulate; main_simulate()",
         "--link", str(link)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == str(link)
        yield str(link)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)


def _proc_cfg(path: str) -> AuroraConfig:
    return AuroraConfig(path=path, incisal_offset_mm=(0.0, 15.0, 25.0), simulated=True, reset_timeout_s=1.0)


def _busy(stop: threading.Event) -> None:
    text = "\n".join(f"v {i * 0.01:.5f} {i * 0.7:.5f} {-i * 1.3:.5f}" for i in range(500))
    while not stop.is_set():
        for line in text.split("\n"):
            p = line.split()
            float(p[1]) + float(p[2]) + float(p[3])


def _run_busy(src: AuroraJawSource, seconds: float) -> np.ndarray:
    stop = threading.Event()
    worker = threading.Thread(target=_busy, args=(stop,), daemon=True)
    worker.start()
    got: list = []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            got += src.read(0.1)
    finally:
        stop.set()
        worker.join()
    return frames_of(got)


def test_busy_python_thread_costs_at_most_a_few_frames(sim_process: str) -> None:
    """Inline polling lost 7-20 % of the frames next to one busy thread; the polling process keeps it at zero (the
    bound leaves room for a loaded test machine; the strict zero over 30 s is the soak test below)."""
    src = AuroraJawSource(_proc_cfg(sim_process))
    src.open()
    try:
        frames = _run_busy(src, 2.0)
    finally:
        src.close()
    expected = int(frames[-1] - frames[0] + 1)
    assert expected >= 70
    assert expected - len(frames) <= 0.03 * expected, (expected, len(frames))
    assert src.counters()["samples_lost"] == expected - len(frames)


@pytest.mark.soak
def test_busy_python_thread_loses_no_frame(sim_process: str) -> None:
    src = AuroraJawSource(_proc_cfg(sim_process))
    src.open()
    try:
        frames = _run_busy(src, 30.0)
    finally:
        src.close()
    assert int(frames[-1] - frames[0] + 1) == len(frames)
    assert src.counters()["samples_lost"] == 0


def test_a_bug_in_the_loop_is_reported_and_polling_resumes(sim: AuroraSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's loop, run here in a thread (same code as in the process) with a poll() that fails once."""
    real_poll = AuroraTracker.poll
    calls = {"n": 0}

    def flaky(self: AuroraTracker, deadline: float, stop: Any = None) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return real_poll(self, deadline, stop)

    monkeypatch.setattr(AuroraTracker, "poll", flaky)
    recv, send = mp.Pipe(duplex=False)
    stop = threading.Event()
    child = threading.Thread(target=child_main, args=(sim.path, make_cfg(sim).model_dump_json(), send, stop))
    child.start()
    msgs: list = []
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        if recv.poll(0.05):
            msgs.append(recv.recv())
    stop.set()
    while not msgs or msgs[-1] != "end":
        assert recv.poll(3.0), "the child loop did not end"
        msgs.append(recv.recv())
    child.join(3.0)
    assert msgs[0][0] == "opened"
    errors = [m for m in msgs if isinstance(m, Note) and m.name == "poller.error"]
    assert len(errors) == 1 and "boom" in errors[0].payload["error"]
    after = msgs[msgs.index(errors[0]):]
    assert sum(isinstance(m, Reply) for m in after) >= 15  # tracking went on after the error (one reply per frame)
    counters = [m[1] for m in msgs if isinstance(m, tuple) and m and m[0] == "counters"]
    assert counters[-1]["poller_errors"] == 1 and counters[-1]["tx_sent"] >= 50
    assert not sim.tracking  # TSTOP was sent at the end


def test_a_dead_polling_process_is_a_clear_error(sim: AuroraSimulator) -> None:
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    try:
        assert src._poller is not None
        src.read(0.2)
        src._poller._proc.kill()
        src._poller._proc.join(2.0)
        with pytest.raises(SourceError, match=r"polling process is not running \(exit code -9\)"):
            for _ in range(3):  # the first read may still deliver what the child sent before it died
                src.read(0.05)
    finally:
        src.close()


def test_close_stops_the_process_sends_tstop_and_counts_unread_frames(sim: AuroraSimulator) -> None:
    src = AuroraJawSource(make_cfg(sim))
    src.open()
    assert src._poller is not None and src._poller.alive and sim.tracking
    src.read(0.1)
    time.sleep(0.3)  # frames polled after the last read(): counted at close, not dropped silently
    t0 = time.monotonic()
    src.close()
    assert time.monotonic() - t0 < 1.0
    assert not src._poller.alive and src._poller.exitcode == 0
    assert not sim.tracking
    c = src.counters()
    assert 8 <= c["unread_at_close"] <= 16
    ev = [e for e in src.drain_events() if e.name == "frame.unread_at_close"]
    assert len(ev) == 1 and ev[0].payload["samples"] == c["unread_at_close"]
    with pytest.raises(SourceError, match="after close"):
        src.read(0.1)


def test_a_slow_device_answer_is_counted_as_late_reply(sim: AuroraSimulator) -> None:
    """A reply later than half a frame period means the device side may lose a frame: counted, so a gap can be
    attributed to the device (or its simulator) rather than to the host's polling."""
    src = AuroraJawSource(make_cfg(sim, reply_timeout_s=1.0))
    src.open()
    try:
        src.read(0.3)
        before = src.counters()["late_replies"]  # 0 on a quiet machine; a loaded one answers late now and then
        sim.faults.arm("stall")  # the simulator sits on the next command for 0.4 s
        for _ in range(10):
            src.read(0.1)
    finally:
        src.close()
    c = src.counters()
    # the stalled answer is late (more may be, on a loaded machine: CI flake at load 10 gave 5)
    assert c["late_replies"] >= before + 1 and c["reply_timeouts"] == 0
    assert c["samples_lost"] >= 10  # 0.4 s without an answer at 40 Hz
