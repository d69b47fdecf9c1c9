"""`CompactionLoop`: the visit's background thread that builds the HDF5 file from the journal while it records.

Every `interval_s` it runs the `Compactor` (journal -> partial HDF5 file), so closing only adds the tail, verifies
and seals; every `COUNTERS_EVERY_S` it journals a snapshot of every reader's counters (`CountersRecord`: the QC
of a visit that crashes keeps its counters); every `CLOCK_PAIR_EVERY_S` an (LSL clock, UTC) pair, to place the
visit on the calendar.

A compactor failure ends the thread but not the visit. Decision (issue 8 §3 says "a journal or compactor failure
puts the visit in `failed`"): the journal is the record and it is intact, so failing the visit would stop a
recording that loses nothing. The visit goes on recording; the failure is said at once and kept: a
`compactor.failed` event in the record (the error's type and errno only, never its text, which quotes paths), a
live alert for the technician (`alert`, the session's `drain_alerts`), an error log line, and the error itself
(`error`; the health check `all_progressing` turns false). At close, `finish` rebuilds the file from the journal
with the same writer options, which this loop owns (they are the visit's, not the compactor's to hand back); if
that fails too the visit is not sealed and `recover` rebuilds it. A journal failure met by a snapshot or by the
event (`VisitFailed`) ends the thread quietly: the session already failed the visit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from acquisition.clock import utc_iso
from acquisition.events import Event
from acquisition.journal import encode_json
from acquisition.journal.records import CountersRecord
from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.discard import discard_partial
from sessions.reader_thread import ReaderThread, plain_counters
from sessions.session_errors import VisitFailed, error_summary
from sessions.loop_thread import LoopThread

__all__ = ["CLOCK_PAIR_EVERY_S", "COMPACTOR_FAILED", "COUNTERS_EVERY_S", "CompactionLoop", "counters_record"]

COMPACTOR_FAILED = "compactor.failed"  # the file stopped being built while recording (payload "error", "reason")

COUNTERS_EVERY_S = 5.0
CLOCK_PAIR_EVERY_S = 60.0


def counters_record(readers: Iterable[ReaderThread]) -> CountersRecord:
    """Every reader's source counters, with its failed reads (`read_errors`) and rejected chunks. A source whose
    `counters()` raises, or gives what JSON cannot hold, is recorded as `{"error": ...}` with the reader's own."""
    snap: dict[str, dict[str, Any]] = {}
    for r in readers:
        try:
            c = plain_counters(r.source.counters())
            encode_json(c)  # refused here, for this source alone, rather than by the record
        except Exception as exc:  # noqa: BLE001
            c = {"error": error_summary(exc)}
        c["read_errors"] = r.errors
        c["chunks_rejected"] = r.chunks_rejected
        snap[r.name] = c
    return CountersRecord(sources=snap)


class CompactionLoop(LoopThread):
    """Owns the compactor and its thread; `start`, then `stop` (joins) and `finish` at close."""

    def __init__(self, journal_dir: Path, partial: Path, *, writer_options: dict[str, Any], interval_s: float,
                 clock: Callable[[], float], log: Any, write_counters: Callable[[CountersRecord], None],
                 event: Callable[..., Event], readers: Callable[[], Iterable[ReaderThread]],
                 alert: Callable[[Event], None] = lambda ev: None) -> None:
        self._journal_dir = Path(journal_dir)
        self._partial = Path(partial)
        self._writer_options = dict(writer_options)
        self._interval_s = interval_s
        self._clock = clock
        self._log = log
        self._write_counters = write_counters
        self._event = event
        self._readers = readers
        self._alert = alert
        self.compactor = self._new_compactor()
        self._error: BaseException | None = None
        super().__init__("compactor")

    def _new_compactor(self) -> Compactor:
        return Compactor(self._journal_dir, self._partial, writer_options=dict(self._writer_options))

    @property
    def error(self) -> BaseException | None:
        """Why the background compaction stopped (None while it runs, or after a clean stop)."""
        return self._error

    @property
    def healthy(self) -> bool:
        return self.alive and self._error is None

    def snapshot_counters(self) -> None:
        """Journal the counters of every reader now (raises `VisitFailed` if the journal fails)."""
        self._write_counters(counters_record(self._readers()))

    def _run(self) -> None:
        next_counters = 0.0
        next_pair = self._clock() + CLOCK_PAIR_EVERY_S
        while not self._stop.wait(self._interval_s):
            try:
                now = self._clock()
                if now >= next_counters:
                    next_counters = now + COUNTERS_EVERY_S
                    self.snapshot_counters()
                if now >= next_pair:
                    next_pair = now + CLOCK_PAIR_EVERY_S
                    t, utc = self._clock(), utc_iso()
                    self._event("clock", "clock.pair", payload={"t_lsl": t, "utc": utc})
                self.compactor.run_once()
            except VisitFailed:  # the journal failed (a counters snapshot): not the compactor's fault
                return
            except Exception as exc:  # noqa: BLE001 - the journal still has everything; finish rebuilds
                self._error = exc
                self._failed(exc)
                return

    def _failed(self, exc: BaseException) -> None:
        """Say it (event, alert, log); the visit records on (see the module docstring)."""
        error = error_summary(exc)
        self._log.error(COMPACTOR_FAILED, error=error)
        self._log.debug("compactor.failed_detail", error=repr(exc), exc_info=True)
        try:
            ev = self._event("qc", COMPACTOR_FAILED, payload={
                "error": error, "reason": f"building the visit file failed ({error}); recording goes on, the "
                "journal keeps everything and the file is rebuilt from it at close"})
        except VisitFailed:  # the journal failed too: the session already says so
            return
        self._alert(ev)

    def finish(self, closed_utc: str) -> Compactor:
        """After `stop` and the journal's last record: the tail into the file, closing attributes; the finished
        compactor (for the seal). A compactor that failed is not trusted: the file is rebuilt from the journal."""
        if self._error is not None:
            self.compactor.abort()
            self._partial.unlink(missing_ok=True)
            self.compactor = self._new_compactor()
        self.compactor.run_once(final=True)
        self.compactor.finish({"closed_utc": closed_utc, "state": "sealed"})
        return self.compactor

    def discard(self) -> None:
        """After a journal failure: throw the partial file away (recover rebuilds it), closed so that a full disk
        cannot crash the process (`discard_partial`)."""
        discard_partial(self._partial, self.compactor.abort)
