"""`record`'s words to the technician: alerts as they come, a failed visit ends the wait, the summary lines."""

from __future__ import annotations

import threading
import time
from collections import deque

from acquisition.clock import utc_iso
from acquisition.events import Event
from sessions.manager import SessionState
from sessions.record_report import stream_summary, wait_reporting


def _ev(name: str, stream: str, **payload: object) -> Event:
    return Event(t_lsl=1.0, utc=utc_iso(), kind="device", name=name, stream=stream, payload=payload)


class _Session:
    def __init__(self, alerts: list[Event]) -> None:
        self.alerts = deque(alerts)
        self.state = SessionState.recording

    def drain_alerts(self) -> list[Event]:
        out = list(self.alerts)
        self.alerts.clear()
        return out


def test_alerts_are_printed_as_they_come_and_a_failed_visit_ends_the_wait() -> None:
    s = _Session([_ev("stream.stalled", "emg", silent_s=1.2, threshold_s=1.0, source="lsl:EMG", detected_by="session"),
                  _ev("stream.resumed", "emg", silent_s=3.4, missing_at_resume=0, detected_by="session")])
    lines: list[str] = []
    t0 = time.monotonic()
    assert wait_reporting(s, threading.Event(), 0.3, lines.append, tick_s=0.05) == "duration"  # type: ignore[arg-type]
    assert 0.3 <= time.monotonic() - t0 < 1.0
    assert lines == ["WARNING  emg: no sample for 1.2 s (stalled; threshold 1 s), source lsl:EMG",
                     "INFO     emg: delivering again after 3.4 s of silence, nothing lost"]
    s.alerts.append(_ev("visit.failed", "", reason="journal write failed: No space left on device"))
    s.state = SessionState.failed
    t0 = time.monotonic()
    assert wait_reporting(s, threading.Event(), 0.0, lines.append, tick_s=0.05) == "failed"  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 0.5 and len(lines) == 2  # said once, by the error line that follows
    stop = threading.Event()
    stop.set()
    s.state = SessionState.recording
    assert wait_reporting(s, stop, 0.0, lines.append) == "stopped"  # type: ignore[arg-type]


def test_summary_line_puts_the_window_beside_the_sequence_count() -> None:
    q = {"received": 4009, "missing_by_seq": 0, "gaps": 0, "nominal_rate": 500.0, "expected_by_window": 8010,
         "missing_by_window": 4001, "window_s": 16.02, "stalls": 1, "gap_rate_warnings": 0}
    assert stream_summary("emg", q) == ("  emg: received 4009, missing 0, gaps 0; missing 4001 of 8010 over the "
                                        "16.0 s recorded, stalled 1x  WARNING: samples missing")
    ok = {**q, "received": 8010, "missing_by_window": 0, "stalls": 0}
    assert stream_summary("emg", ok) == ("  emg: received 8010, missing 0, gaps 0; missing 0 of 8010 over the "
                                         "16.0 s recorded, stalled 0x")
