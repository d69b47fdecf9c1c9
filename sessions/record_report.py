"""What `amuse-acq record` tells the technician: alerts while it records, and the QC of each stream at the end.

Why: a stream that died mid-visit used to end in `received 4009, missing 0, gaps 0`, with nothing said while
there was still time to fix a cable. Now every delivery alert of the session (`stream.stalled`,
`stream.gap_rate_high`, ...) is a line on stderr as it happens, and the summary puts the samples the visit should
hold over the time it recorded the stream beside the sequence-number count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sessions.manager import SessionManager, SessionState
from sessions.stream_watch import RESUMED, alert_line

_QUIET = {"visit.failed"}  # said once, by the error line that follows


def wait_reporting(session: SessionManager, stop: threading.Event, duration_s: float,
                   emit: Callable[[str], None], *, tick_s: float = 0.25) -> str:
    """Wait for `stop`, the end of `duration_s` (0: no end) or a failed visit, passing each alert to `emit` as
    it comes. Returns why the wait ended: 'stopped', 'duration' or 'failed'."""
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    while True:
        for ev in session.drain_alerts():
            if ev.name not in _QUIET:
                emit(("INFO     " if ev.name == RESUMED else "WARNING  ") + alert_line(ev))
        if session.state is SessionState.failed:
            return "failed"
        if stop.is_set():
            return "stopped"
        wait = tick_s if deadline is None else min(tick_s, deadline - time.monotonic())
        if wait <= 0:
            return "duration"
        stop.wait(wait)


def stream_summary(name: str, q: Mapping[str, Any]) -> str:
    """One line per stream: the sequence-number count, then the count over the time the visit recorded it."""
    line = f"  {name}: received {q['received']}, missing {q['missing_by_seq']}, gaps {q['gaps']}"
    if "expected_by_window" not in q or not q.get("nominal_rate"):
        return line
    mw, ew = int(q["missing_by_window"]), int(q["expected_by_window"])
    line += f"; missing {mw} of {ew} over the {float(q['window_s']):.1f} s recorded, stalled {q['stalls']}x"
    if q.get("gap_rate_warnings"):
        line += f", gap rate high {q['gap_rate_warnings']}x"
    if q["missing_by_seq"] or q["stalls"] or q.get("gap_rate_warnings") or mw > 0.01 * max(ew, 1):
        line += "  WARNING: samples missing"
    return line
