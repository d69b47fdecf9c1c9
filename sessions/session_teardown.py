"""Letting go of a visit that will not be sealed: after a journal failure, and when the journal fails at open.

Kept apart from `SessionManager` because both are the same careful sequence over the parts it composes (readers,
delivery watch, compaction loop, journal, claim): stop every thread before touching what it uses, never close a
port under a thread still reading it, never raise out of the clean-up (the visit's own error is what the caller
raises), and leave the journal to `recover` (after a failure) or nothing at all (at open, where nothing was
recorded yet).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sessions.compaction_loop import CompactionLoop
from sessions.reader_thread import ReaderThread
from sessions.session_errors import VisitOpenFailed, error_summary, storage_reason
from sessions.visit_journal import VisitJournal
from sessions.visit_store import VisitStore
from sessions.watch_loop import WatchLoop

__all__ = ["release_failed", "request_stop_all", "undo_open"]


def request_stop_all(readers: Sequence[ReaderThread], watch: WatchLoop, compaction: CompactionLoop | None) -> None:
    """The journal failed: every thread ends at its next turn; nothing is joined here (the caller may be one of
    them). The compactor's file will not be sealed: `recover` rebuilds it from the journal."""
    for r in readers:
        r.request_stop()
    watch.request_stop()
    if compaction is not None:
        compaction.request_stop()


def _stop_compaction(compaction: CompactionLoop | None, log: Any) -> None:
    if compaction is None:
        return
    compaction.stop(timeout=10.0)
    try:  # never trusted after a failure (recover rebuilds it); closed so that a full disk cannot crash us
        compaction.discard()
    except Exception as exc:  # noqa: BLE001
        log.error("compactor.abort_failed", error=error_summary(exc))


def release_failed(readers: Sequence[ReaderThread], watch: WatchLoop, compaction: CompactionLoop | None,
                   journal: VisitJournal | None, log: Any) -> None:
    """After a journal failure: join the readers, release the devices and the journal (so `recover` can take
    it), never seal. The caller releases the claim."""
    for r in readers:
        r.request_stop()
    for r in readers:
        r.release()
    watch.stop(timeout=10.0)
    _stop_compaction(compaction, log)
    if journal is not None:
        journal.release()


def undo_open(exc: BaseException, *, store: VisitStore, key: str, watch: WatchLoop,
              compaction: CompactionLoop | None, journal: VisitJournal | None, log: Any) -> VisitOpenFailed:
    """The journal failed while the visit was opening (no source started, nothing recorded): stop what started,
    let go of the journal and remove the visit's folder, so that once the claim is released (by the caller) the
    visit is free again. Returns the one-line error to raise."""
    watch.request_stop()
    _stop_compaction(compaction, log)
    if journal is not None:
        journal.release()
    left: Path | None = None
    try:
        shutil.rmtree(store.open_dir(key))
    except FileNotFoundError:
        pass
    except OSError as exc2:  # said in the error: `recover` sets an open folder without a visit record aside
        left = store.open_dir(key)
        log.error("visit.open_cleanup_failed", error=error_summary(exc2))
    reason, no_space = storage_reason(exc)
    log.error("visit.open_failed", reason=reason, error=error_summary(exc))
    log.debug("visit.open_failed_detail", error=repr(exc))
    return VisitOpenFailed(key, reason, no_space=no_space, left_behind=left, data_dir=store.data_dir)
