"""`JournalTail`: the open visit's journal read behind the session, each record once, for the steps' QC.

Why the QC reads the journal rather than counters or a tap in the reader threads: the journal is what the file is
built from, so a verdict judges exactly the samples, events and captures the visit keeps (a chunk rejected before
the journal is not counted as received); it adds nothing to the acquisition path (a slow or failing QC can never
delay a reader thread); and the data are fresh in the page cache, read once more, incrementally (`LogCursor`: only
what was journalled since the last call). A record that cannot be decoded is counted and skipped: reporting
journal damage is the compactor's job (`/qc/journal_damage`), not a step's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.journal import JournalFormatError, LogCursor, decode_chunk, decode_event, is_chunk_payload
from acquisition.visitfile.scan_record import decode_scan


class JournalTail:
    """Incremental readers of one journal's `streams/<name>`, `events` and `scans` logs (one thread: the runner's)."""

    def __init__(self, journal_dir: Path) -> None:
        self.journal_dir = Path(journal_dir)
        self._cursors: dict[str, LogCursor] = {}
        self.undecodable = 0

    def _new(self, log: str) -> list[bytes]:
        cur = self._cursors.get(log)
        if cur is None:
            cur = self._cursors[log] = LogCursor(self.journal_dir / log)
        return cur.read_new()

    def chunks(self, stream: str) -> list[Chunk]:
        """The chunks of `stream` journalled since the last call (its description copy at the head skipped)."""
        out = []
        for rec in self._new(f"streams/{stream}"):
            if not is_chunk_payload(rec):
                continue
            try:
                out.append(decode_chunk(rec))
            except JournalFormatError:
                self.undecodable += 1
        return out

    def events(self) -> list[Event]:
        out = []
        for rec in self._new("events"):
            try:
                out.append(decode_event(rec))
            except (JournalFormatError, ValueError):
                self.undecodable += 1
        return out

    def scans(self) -> list[dict[str, Any]]:
        """The attributes of each capture journalled since the last call (with its `scan_id`)."""
        out = []
        for rec in self._new("scans"):
            try:
                scan_id, _arrays, attrs = decode_scan(rec)
            except JournalFormatError:
                self.undecodable += 1
                continue
            out.append({"scan_id": scan_id, **attrs})
        return out
