"""What an open visit reports about itself: the status the technician's screen shows, and the watchdog's health.

Kept apart from `SessionManager` (which composes the parts) so each reads in one place: `session_status` is a
plain snapshot, `all_progressing` the condition the exam-room service's watchdog feeds on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessions.compaction_loop import CompactionLoop
from sessions.reader_thread import ReaderThread

__all__ = ["all_progressing", "session_status"]


def session_status(*, key: str, state: str, step: str, readers: Sequence[ReaderThread],
                   journal_counters: dict[str, Any], now: float) -> dict[str, Any]:
    """The visit, its state and step, each reader's status (counters, errors, state) and the journal's counters."""
    return {
        "visit": key,
        "state": state,
        "step": step,
        "sources": {r.name: r.status(now) for r in readers},
        "journal": journal_counters,
    }


def all_progressing(*, readers: Sequence[ReaderThread], now: float, max_age_s: float, journal_failed: bool,
                    watch_alive: bool, compaction: CompactionLoop | None) -> bool:
    """Every reader thread went round its loop within `max_age_s` (a read that blocks, a thread that died, is
    not progress; a source retried with a backoff is), the delivery watch and the compactor run, and the
    journal has not failed."""
    readers_ok = all(r.progressing(now, max_age_s) for r in readers)
    return readers_ok and not journal_failed and watch_alive and compaction is not None and compaction.healthy
