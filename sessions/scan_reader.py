"""`ScanReader`: the thread that polls one `ScanSource` (the facial scanner) for finished captures.

Each capture is encoded by the session's scan encoder (`sessions.scan_encoding`) and appended to the journal's
`scans` log, tagged with the protocol step in force. A poll that raises is reported by the error's type and errno only: the
text of an unexpected error may quote a vendor file name (a path, a patient's name). State, backoff and the stop
sequence: `reader_thread`. When stopped, it polls once more (unless the visit failed), so a capture finished just
before the close is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acquisition.journal import JournalError
from acquisition.source import ScanSource
from acquisition.visitfile.scan_record import encode_scan
from sessions.reader_thread import ReaderContext, ReaderThread
from sessions.session_errors import VisitFailed, error_summary

__all__ = ["ScanEncoder", "ScanReader"]

#: a capture -> (scan id, arrays, attributes) for `/scans/<id>`
ScanEncoder = Callable[[Any], tuple[str, dict[str, Any], dict[str, Any]]]


class ScanReader(ReaderThread):
    """Polls one opened `ScanSource` every `poll_s` on its own thread; `stop()` by its owner."""

    thread_prefix = "scanner"

    def __init__(self, scanner: ScanSource, ctx: ReaderContext, *, encoder: ScanEncoder, poll_s: float) -> None:
        # a scanner that names files only by aliases says so (`emits_pseudonymous_names`); else its event
        # payloads are pseudonymised (`ReaderThread`)
        super().__init__(scanner, ctx)
        self._encoder = encoder
        self._poll_s = poll_s

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                wait = self._poll()
                self.last_progress = self._ctx.clock()
                self._stop.wait(wait)
            if not self._ctx.visit_failed():
                self._poll()
        except VisitFailed:
            return

    def _poll(self) -> float:
        """One poll into the journal; returns the wait before the next one (longer while polls keep failing)."""
        wait = self._poll_s
        try:
            captures = self.source.poll()
        except Exception as exc:  # noqa: BLE001
            wait = max(wait, self._attempt_failed(exc, event_name="scanner.poll_failed", error=error_summary(exc)))
            captures = []
        else:
            self._attempt_succeeded()
        for cap in captures:
            scan_id, arrays, attrs = self._encoder(cap)
            # the step in force now, unless the encoder gives the capture's own (a replay: the original's)
            attrs = {"step": self._ctx.current_step(), **attrs}
            try:
                self._ctx.journal.log("scans").append(encode_scan(scan_id, arrays, attrs))
            except (JournalError, OSError) as exc:
                raise self._ctx.journal_failed(exc) from None
        self._drain_events()
        return wait
