"""A stream that stops delivering, or loses samples, is said at once: an event in the record, a live alert, QC.

Before: an LSL outlet that stopped 8 s before the close gave `received 4009, missing 0, gaps 0` and no event,
and the jaw tracker lost 3.3 % of its frames under load without a warning.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from acquisition.lslenv import local_clock
from sessions.stream_watch import StreamWatch, WatchSettings
from tests.sessions.fake_sources import SwitchableSource, open_watched


def _events(path: Path) -> list[dict[str, Any]]:
    with h5py.File(path, "r") as f:
        rows = f["events/table"][:]
    return [{"t": float(r["t_lsl"]), "name": r["name"].decode(), "stream": r["stream"].decode(),
             "step": r["step"].decode(), "payload": json.loads(r["payload"])} for r in rows]


def _qc(path: Path) -> dict[str, Any]:
    with h5py.File(path, "r") as f:
        return json.loads(f["qc"].attrs["streams"])


def _mine(evs: list[dict[str, Any]], name: str, stream: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["name"] == name and e["stream"] == stream and e["payload"].get("detected_by") == "session"]


def test_default_threshold_is_one_second_at_10_hz_and_above() -> None:
    w = WatchSettings()
    assert w.stall_after_s(2000.0) == 1.0 and w.stall_after_s(10.0) == 1.0
    assert w.stall_after_s(1.0) == 10.0 and w.stall_after_s(2.0) == 5.0


def test_stall_and_resume_per_stream(tmp_path: Path) -> None:
    """One stream of a two-stream source goes silent: stalled then resumed for it alone, tagged with its step."""
    s = open_watched(tmp_path, WatchSettings(stall_min_s=0.4))
    src = SwitchableSource("rig", {"a": 100.0, "b": 100.0})
    s.add_source(src)
    s.start_step("emg_rest")
    time.sleep(0.6)
    src.on["b"] = False
    t_off = time.monotonic()
    time.sleep(1.0)
    src.on["b"] = True
    time.sleep(0.5)
    alerts = s.drain_alerts()
    sealed = s.close()

    evs = _events(sealed.path)
    stalled, resumed = _mine(evs, "stream.stalled", "b"), _mine(evs, "stream.resumed", "b")
    assert len(stalled) == 1 and len(resumed) == 1
    assert _mine(evs, "stream.stalled", "a") == [] and _mine(evs, "stream.resumed", "a") == []
    st = stalled[0]
    assert st["step"] == "emg_rest" and st["payload"]["source"] == "rig" and st["payload"]["threshold_s"] == 0.4
    assert 0.4 <= st["payload"]["silent_s"] < 0.8
    assert resumed[0]["t"] > st["t"] and 0.8 <= resumed[0]["payload"]["silent_s"] < 1.5
    assert [(a.name, a.stream) for a in alerts] == [("stream.stalled", "b"), ("stream.resumed", "b")]
    qc = _qc(sealed.path)
    assert qc["b"]["stalls"] == 1 and qc["a"]["stalls"] == 0
    assert qc["b"]["missing_by_seq"] == 0  # a paused stream, not a lossy one
    assert time.monotonic() - t_off < 5


def test_default_threshold_tolerates_a_short_silence(tmp_path: Path) -> None:
    s = open_watched(tmp_path)
    src = SwitchableSource("rig", {"a": 100.0})
    s.add_source(src)
    time.sleep(0.3)
    src.on["a"] = False
    time.sleep(0.6)  # under the default 1 s: not a stall
    src.on["a"] = True
    time.sleep(0.3)
    src.on["a"] = False
    time.sleep(1.5)  # a stall
    src.on["a"] = True
    time.sleep(0.3)
    sealed = s.close()
    evs = _events(sealed.path)
    stalled = _mine(evs, "stream.stalled", "a")
    assert len(stalled) == 1 and stalled[0]["payload"]["threshold_s"] == 1.0
    assert len(_mine(evs, "stream.resumed", "a")) == 1


def test_dead_tail_counts_as_missing_by_window(tmp_path: Path) -> None:
    """The stream dies 1.5 s before the close: the QC counts those samples missing over the recorded window."""
    rate = 200.0
    s = open_watched(tmp_path)
    src = SwitchableSource("rig", {"alive": rate, "dead": rate})
    s.add_source(src)
    time.sleep(1.0)
    src.on["dead"] = False
    time.sleep(1.5)
    sealed = s.close()
    qc = _qc(sealed.path)
    evs = _events(sealed.path)
    started = next(e for e in evs if e["name"] == "source.started")
    stopped = next(e for e in evs if e["name"] == "source.stopped")
    assert started["payload"]["streams"] == ["alive", "dead"] == stopped["payload"]["streams"]
    window = stopped["t"] - started["t"]
    for name in ("alive", "dead"):
        q = qc[name]
        assert q["received"] == src.delivered[name]
        assert q["window_end"] == "stopped" and q["window_s"] == pytest.approx(window, abs=1e-3)
        assert q["expected_by_window"] == round(window * rate)
        assert q["missing_by_window"] == max(0, q["expected_by_window"] - q["received"])
    # the dead tail: 1.5 s at 200 Hz, give or take the reader's cadence
    assert 1.3 * rate <= qc["dead"]["missing_by_window"] <= 1.7 * rate
    assert qc["dead"]["missing_by_seq"] == 0 and qc["dead"]["expected_by_seq"] == qc["dead"]["received"]
    assert qc["alive"]["missing_by_window"] <= 0.05 * rate
    assert qc["dead"]["stalls"] == 1 and qc["alive"]["stalls"] == 0


def test_gap_rate_above_threshold_warns_once(tmp_path: Path) -> None:
    s = open_watched(tmp_path, WatchSettings(gap_window_s=2.0))
    src = SwitchableSource("rig", {"clean": 200.0, "lossy": 200.0, "mild": 200.0},
                           drop_every={"lossy": 25, "mild": 400})  # 4 % and 0.25 % lost
    s.add_source(src)
    s.start_step("jaw_max_opening")
    time.sleep(2.5)
    alerts = s.drain_alerts()
    sealed = s.close()
    evs = _events(sealed.path)
    high = [e for e in evs if e["name"] == "stream.gap_rate_high"]
    assert [e["stream"] for e in high] == ["lossy"]
    p = high[0]["payload"]
    assert p["threshold"] == 0.01 and 0.03 <= p["rate"] <= 0.05 and p["expected"] >= 100
    assert high[0]["step"] == "jaw_max_opening"
    assert [(a.name, a.stream) for a in alerts] == [("stream.gap_rate_high", "lossy")]
    qc = _qc(sealed.path)
    assert qc["lossy"]["gap_rate_warnings"] == 1 and qc["mild"]["gap_rate_warnings"] == 0
    assert qc["lossy"]["missing_by_seq"] > 0 and qc["mild"]["missing_by_seq"] > 0


def test_watch_logic_on_synthetic_times() -> None:
    """Stall, resume (saying whether samples were lost), gap-rate episode, on a made-up timeline."""
    w = StreamWatch(WatchSettings(gap_window_s=1.0, gap_min_samples=50))
    w.watch("s", source="src", rate=100.0, now=0.0)
    w.watch("irregular", source="src", rate=0.0, now=0.0)  # nominal_rate 0: never watched
    assert w.on_chunk("s", np.arange(0, 10), 0.1) == []
    assert w.check(1.05) == []
    [st] = w.check(1.1)
    assert (st.name, st.stream, st.payload["silent_s"], st.payload["threshold_s"]) == ("stream.stalled", "s", 1.0, 1.0)
    assert w.check(5.0) == []  # once per stall
    [res] = w.on_chunk("s", np.arange(10, 20), 5.1)  # the backlog: late, not lost
    assert res.name == "stream.resumed" and res.payload["missing_at_resume"] == 0 and res.payload["silent_s"] == 5.0
    assert w.on_chunk("s", np.arange(20, 60), 5.2) == []  # 50 expected in the window, 0 missing
    [gap] = w.on_chunk("s", np.arange(62, 100), 5.3)  # 2 of 90 missing: 2.2 %
    assert gap.name == "stream.gap_rate_high" and (gap.payload["missing"], gap.payload["expected"]) == (2, 90)
    assert w.on_chunk("s", np.arange(102, 140), 5.4) == []  # still high: the same episode
    assert w.check(100.0)[0].name == "stream.stalled"
    [res] = w.on_chunk("s", np.arange(300, 310), 100.1)
    assert res.payload["missing_at_resume"] == 160
    assert [a.stream for a in w.check(1000.0)] == ["s"]
    w.forget(["s"])
    assert w.check(2000.0) == []


def test_a_frozen_process_is_not_a_stall(tmp_path: Path) -> None:
    """The recorder itself froze for 2 s (its watch thread too): the streams are not blamed."""
    jump = {"s": 0.0}
    s = open_watched(tmp_path, clock=lambda: local_clock() + jump["s"])
    src = SwitchableSource("rig", {"a": 100.0})
    s.add_source(src)
    time.sleep(0.5)
    # as after a freeze: the manager's clock readings are 2 s later, and the reader is still catching up
    src.on["a"] = False
    jump["s"] = 2.0
    time.sleep(0.35)
    src.on["a"] = True
    time.sleep(0.5)
    sealed = s.close()
    assert _mine(_events(sealed.path), "stream.stalled", "a") == []
