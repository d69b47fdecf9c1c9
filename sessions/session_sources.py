"""The session's sources and scanners: adding one (opened, its streams declared and journalled, published on
LSL, its reader thread started), removing one before the close. A mixin of `SessionManager`, which owns the state
it uses (`_readers`, `_scanners`, `_removed`, `_ctx`, `_watch`, `_step`...): one concept per module, one object."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from acquisition.events import SOURCE_STARTED
from acquisition.journal import JournalError
from acquisition.journal.records import journal_stream
from acquisition.source import ScanSource, Source, StepAware
from acquisition.stream import StreamSpec
from sessions.reader_thread import ReaderThread
from sessions.scan_reader import ScanReader
from sessions.session_errors import SessionError
from sessions.source_reader import SourceReader, source_refusal
from sessions.session_state import SessionState

if TYPE_CHECKING:
    from sessions.manager import SessionManager


class SessionSources:
    """`add_source`, `remove_source`, `add_scanner` of `SessionManager`."""

    def add_source(self: SessionManager, source: Source, *, opened: bool = False) -> list[StreamSpec]:
        """Open `source` (SourceError propagates: a missing device is the caller's decision), declare its
        streams, publish them on LSL and start its reader thread. `opened=True`: the caller already opened it
        (e.g. to check every LSL stream resolves before claiming the visit)."""
        self._require(SessionState.recording)
        if not isinstance(source, Source):
            raise SessionError(f"{source!r} does not satisfy the Source contract")
        if source.name in self._readers:
            raise SessionError(f"source {source.name!r} is already recording")
        if not opened:
            source.open()
        specs = list(source.streams)
        if why := source_refusal(source.name, specs, self._readers.values(), production=self.settings.production):
            source.close()
            raise SessionError(why)
        try:
            for spec in specs:
                journal_stream(self.journal, spec)  # in `meta` and at the head of `streams/<name>`
        except (JournalError, OSError) as exc:  # a full disk: the visit fails, in one line
            source.close()
            raise self._ctx.journal_failed(exc) from None
        reader = SourceReader(source, self._ctx, specs, timeout_s=self.settings.reader_timeout_s,
                              publish=self.settings.lsl_outlets and getattr(source, "republish", True))
        # the streams' recording window starts here (QC `expected_by_window`), and so does their silence watch
        self.event("device", SOURCE_STARTED, stream=",".join(reader.specs),
                   payload={"source": source.name, "streams": list(reader.specs),
                            "devices": [json.loads(s.device.model_dump_json()) for s in specs]})
        for spec in specs if self.replay_of is None else ():
            self._watch.watch_stream(spec.name, source=source.name, rate=spec.nominal_rate)
        if self._step and isinstance(source, StepAware):
            source.set_step(self._step, 0.0)
        self._readers[source.name] = reader
        reader.start()
        self._log.info("source.started", source=source.name, streams=list(reader.specs))
        return specs

    def remove_source(self: SessionManager, name: str) -> None:
        """Stop the source or scanner `name` now (its `source.stopped`), before the visit closes."""
        r: ReaderThread | None = self._readers.pop(name, None) or self._scanners.pop(name, None)
        if r is None:
            raise SessionError(f"no source named {name!r}")
        self._stop_reader(r)
        self._removed.append(r)

    def _stop_reader(self: SessionManager, r: ReaderThread) -> None:
        self._watch.forget(r.stream_names)  # its silence from now on is the stop, not a stall
        r.stop()

    def add_scanner(self: SessionManager, scanner: ScanSource, *, poll_s: float = 0.2, opened: bool = False) -> None:
        self._require(SessionState.recording)
        if self._scan_encoder is None:
            raise SessionError("no scan encoder configured for this session")
        if not opened:
            scanner.open()
        reader = ScanReader(scanner, self._ctx, encoder=self._scan_encoder, poll_s=poll_s)
        self._scanners[scanner.name] = reader
        self.event("device", SOURCE_STARTED, payload={"source": scanner.name})
        if self._step and isinstance(scanner, StepAware):
            scanner.set_step(self._step, 0.0)
        reader.start()
