"""Journal -> HDF5, incrementally: the background compactor of an open visit, and the rebuild of a crashed one.

The journal of a visit has these logs (records typed in `acquisition.journal.records`):
- `meta`: the `MetaRecord` union: `visit` (root attributes, first), `stream` (before that stream's first
  chunk), `calibration`, `counters` (source QC counters, periodically), `outcomes`, `qc` (a QC entry the session
  computed: the pre-flight gates), `close`, `recovered`.
- `meta-copy`: a second copy of the visit and calibration records (a calibration taken during the visit is
  also announced by a `calibration.recorded` event, so the ledger knows to expect it).
- `events`: `Event` records.
- `streams/<name>`: a copy of the stream's description, then `Chunk` records.
- `scans`: scan records (`scan_record`).
- `audit`: the visit's audit chain, `AuditRecord`s in chain order (`sessions.audit`), written to `/audit/entries`
  as they are; the ledger reports an entry lost in the journal (a `seq` skipped).

No single record is a point of failure: the visit record, the calibration and every stream description exist
twice in two files, and a stream whose two descriptions are both lost keeps its intact samples under a
placeholder description. Every record that cannot be used is counted (`JournalLedger`) and every loss is in
the `journal_damage` entry of the QC, which then fails.

The compactor owns the `VisitFileWriter` and is the only thread touching the HDF5 file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acquisition.chunk import Chunk
from acquisition.events import CALIBRATION_RECORDED, Event
from acquisition.journal import JournalFormatError, LogCursor, decode_chunk, decode_event
from acquisition.journal.records import (
    AUDIT_LOG,
    AuditRecord,
    CalibrationRecord,
    CloseRecord,
    CountersRecord,
    OutcomesRecord,
    QcRecord,
    RecoveredRecord,
    META_COPY_LOG,
    StreamRecord,
    VisitRecord,
    decode_meta,
    is_copy_payload,
)
from acquisition.log import get_logger
from acquisition.stream import DeviceIdentity, StreamSpec
from acquisition.visitfile.journal_ledger import JournalLedger
from acquisition.visitfile.recording_end import CLOCK_PAIR, ClockPairs, has_local_timestamps, recording_end_utc
from acquisition.visitfile.scan_record import decode_scan
from acquisition.visitfile.writer import StreamTally, VisitFileWriter

_MAX_RECORDS_PER_PASS = 2000
_HDF5_FLUSH_BYTES = 4 * 1024 * 1024  # dirty sample bytes in HDF5's chunk cache before a background flush


#: name of the event `recover` adds (its time is the recovery's, not the recording's)
RECOVERED_EVENT = "visit.recovered"


class JournalUnusable(RuntimeError):
    """The journal holds no readable visit record (neither in `meta` nor its copy in `events`): there is no
    visit to build. Nothing was written."""


class Compactor:
    """Reads new journal records and appends them to the visit file being built."""

    def __init__(self, journal_dir: Path, partial: Path, *, writer_options: dict[str, Any] | None = None) -> None:
        self.journal_dir = Path(journal_dir)
        self.partial = Path(partial)
        self._writer_options = writer_options or {}
        self.writer: VisitFileWriter | None = None
        self._meta = LogCursor(self.journal_dir / "meta")
        self._meta_copy = LogCursor(self.journal_dir / META_COPY_LOG)
        self._events = LogCursor(self.journal_dir / "events")
        self._scans = LogCursor(self.journal_dir / "scans")
        self._audit = LogCursor(self.journal_dir / AUDIT_LOG)
        self.audit: list[str] = []  # the audit chain's stored lines, in order (`AuditRecord.entry`)
        self._streams: dict[str, LogCursor] = {}
        self._pending_meta: list[dict[str, Any]] = []
        self._pending_events: list[Event] = []
        self._placeholders: set[str] = set()
        self.visit_attrs: dict[str, Any] = {}
        self.calibration: list[dict[str, Any]] = []
        self.counters: dict[str, Any] = {}
        self.outcomes: list[list[Any]] = []
        self.qc_entries: dict[str, dict[str, Any]] = {}  # `QcRecord`s: name -> newest value
        self.closed_utc: str | None = None
        self.recoveries: list[str] = []  # utc of each `recovered` record
        self.last_event_utc: str | None = None  # the newest event's UTC (see `recording_end_utc`)
        self.clock_pairs = ClockPairs()  # (LSL clock, UTC): the visit record's start and every `clock.pair`
        self.specs: dict[str, StreamSpec] = {}
        self.damage: dict[str, int] = {}
        self.ledger = JournalLedger(str(self.journal_dir))
        self._log = get_logger("compactor", journal=str(self.journal_dir))

    # -- one pass ------------------------------------------------------------------------------
    def run_once(self, *, final: bool = False) -> int:
        """Move every new record (all of them if `final`) into the file. Returns the number of records moved.
        With `final`, raises `JournalUnusable` (before creating any file) if no visit record can be read."""
        moved = self.load_visit(final=final)
        if self.writer is None:
            if not self.visit_attrs:
                if final:
                    raise JournalUnusable(self.unusable_reason())
                return moved
            self.writer = VisitFileWriter(self.partial, self.visit_attrs, **self._writer_options)
            for spec in self.specs.values():
                self.writer.add_stream(spec)
        if final:
            self._discover_streams()
        while True:
            n = 0
            for name, cursor in list(self._streams.items()):
                recs = cursor.read_new(final=final, max_records=_MAX_RECORDS_PER_PASS)
                for payload in recs:
                    self._take_stream_payload(name, payload)
                n += len(recs)
            moved += n
            if not final or n == 0:
                break
        moved += self._read_events(final)
        moved += self._read_audit(final)
        self.writer.add_events(self._pending_events)
        self._pending_events = []
        for payload in self._scans.read_new(final=final):
            try:
                scan_id, arrays, attrs = decode_scan(payload)
            except JournalFormatError as exc:
                self.ledger.reject("scans", str(exc))
                continue
            self.writer.add_scan(scan_id, arrays, attrs)
            moved += 1
        # pending rows go into the datasets every pass (bounded memory). HDF5's own flush compresses every dirty
        # chunk and rewrites the partly filled ones, so it runs once enough is dirty (keeping the work left for
        # close small) rather than every pass; nothing reads the partial file while the visit is open.
        self.writer.flush(hdf5=final or self.writer.unflushed_bytes >= _HDF5_FLUSH_BYTES)
        return moved

    def load_visit(self, *, final: bool = False) -> int:
        """Read the new records of `meta` and `meta-copy` (the copy stands in for a damaged visit or
        calibration record). Creates no file: `recover` calls it to learn whose visit a journal holds before
        touching anything. Returns the number of records read; `visit_attrs` stays empty without a visit record."""
        moved = 0
        for log, cursor in (("meta", self._meta), (META_COPY_LOG, self._meta_copy)):
            for payload in cursor.read_new(final=final):
                self._take_meta(payload, log)
                moved += 1
        return moved

    def _read_events(self, final: bool) -> int:
        n = 0
        for payload in self._events.read_new(final=final):
            n += 1
            try:
                ev = decode_event(payload)
            except JournalFormatError as exc:
                self.ledger.reject("events", str(exc).splitlines()[0])
                continue
            self._pending_events.append(ev)
            # fixed-width ISO 'Z' strings sort as times; a recovery's own event is not part of the recording
            if ev.name != RECOVERED_EVENT and (self.last_event_utc is None or ev.utc > self.last_event_utc):
                self.last_event_utc = ev.utc
            if ev.name == CLOCK_PAIR:
                self.clock_pairs.add_event(ev.t_lsl, ev.utc, ev.payload)
            elif ev.name == CALIBRATION_RECORDED and isinstance(ev.payload.get("batch"), int):
                self.ledger.announced(ev.payload["batch"], len(ev.payload.get("ids") or ()))
        return n

    def _read_audit(self, final: bool) -> int:
        n = 0
        for payload in self._audit.read_new(final=final):
            n += 1
            try:
                rec = decode_meta(payload)
            except JournalFormatError as exc:
                self.ledger.reject(AUDIT_LOG, str(exc))
                continue
            if not isinstance(rec, AuditRecord):
                self.ledger.reject(AUDIT_LOG, f"a {rec.type!r} record in the audit log")
            elif self.ledger.audit_entry(rec.seq):
                self.audit.append(rec.entry)
        return n

    def _take_meta(self, payload: bytes, log: str) -> None:
        try:
            rec = decode_meta(payload)
        except JournalFormatError as exc:
            self.ledger.reject(log, str(exc))
            return
        if isinstance(rec, VisitRecord):
            self.ledger.found("visit", log)
            attrs = rec.attrs.model_dump(exclude_none=True)
            if not self.visit_attrs:
                self.visit_attrs = attrs
                self.ledger.calibration_expected = rec.calibration_records
                self.clock_pairs.add(rec.attrs.started_t_lsl, rec.attrs.started_utc)
            elif attrs != self.visit_attrs:
                self.ledger.reject(log, "a second visit record differs from the first; the first is kept")
        elif isinstance(rec, StreamRecord):
            self._declare(rec.spec, log)
        elif isinstance(rec, CalibrationRecord):
            self.ledger.found("calibration", log, batch=rec.batch)
            self.calibration.extend(r for r in rec.records if r not in self.calibration)  # a copy adds nothing
        elif isinstance(rec, CountersRecord):
            self.counters = dict(rec.sources)
        elif isinstance(rec, OutcomesRecord):
            self.outcomes = [list(r) for r in rec.rows]
        elif isinstance(rec, QcRecord):
            self.qc_entries[rec.name] = dict(rec.value)
        elif isinstance(rec, CloseRecord):
            self.closed_utc = rec.closed_utc
        elif isinstance(rec, RecoveredRecord):
            self.recoveries.append(rec.utc)
        elif isinstance(rec, AuditRecord):
            self.ledger.reject(log, f"an audit record belongs in the {AUDIT_LOG} log")

    # -- streams -------------------------------------------------------------------------------
    def _declare(self, spec: StreamSpec, log: str) -> None:
        self.ledger.found("stream", log, spec.name)
        known = self.specs.get(spec.name)
        if known is not None:
            if known != spec:
                self.ledger.reject(log, f"stream {spec.name!r} described again differently; the first is kept")
            return
        self.specs[spec.name] = spec
        if self.writer is not None:
            self.writer.add_stream(spec)
        self._streams.setdefault(spec.name, LogCursor(self.journal_dir / "streams" / spec.name))

    def _discover_streams(self) -> None:
        """Stream logs whose description in `meta` was lost: their own head (or chunks) describe them."""
        root = self.journal_dir / "streams"
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            return
        for name in names:
            if name not in self._streams and (root / name).is_dir():
                self._streams[name] = LogCursor(root / name)

    def _take_stream_payload(self, name: str, payload: bytes) -> None:
        assert self.writer is not None
        log = f"streams/{name}"
        if is_copy_payload(payload):
            self._take_meta(payload, log)
            return
        try:
            chunk = decode_chunk(payload)
        except JournalFormatError as exc:
            self.ledger.reject(log, str(exc))
            return
        if chunk.stream != name:
            self.ledger.reject(log, f"chunk of stream {chunk.stream!r} in this log", stream=name, samples=chunk.n)
            return
        if name not in self.specs and not self._declare_placeholder(chunk, log):
            return
        if name in self._placeholders:
            self.ledger.placeholder(name, chunk.n)
        try:
            self.writer.append(chunk)
        except ValueError as exc:
            self.ledger.reject(log, str(exc), stream=name, samples=chunk.n)

    def _declare_placeholder(self, chunk: Chunk, log: str) -> bool:
        """Both descriptions of this stream are lost: keep its intact samples under a description that says so."""
        c = chunk.data.shape[1]
        try:
            spec = StreamSpec(
                name=chunk.stream, kind="other", channels=tuple(f"ch{i}" for i in range(c)), units=("unknown",) * c,
                dtype=chunk.data.dtype.name, nominal_rate=0.0,  # type: ignore[arg-type]
                device=DeviceIdentity(model="unknown (description lost)", serial="unknown"),
                scale_source="placeholder: the stream's description was lost in the journal",
            )
        except ValidationError as exc:
            self.ledger.reject(log, f"no description and none can be made: {exc.errors()[0]['msg']}",
                               stream=chunk.stream, samples=chunk.n)
            return False
        self._placeholders.add(spec.name)
        self.specs[spec.name] = spec
        assert self.writer is not None
        self.writer.add_stream(spec)
        return True

    def unusable_reason(self) -> str:
        """Why no visit can be built from this journal (what was read in meta, events and stream logs)."""
        logs = [p.name for p in sorted((self.journal_dir / "streams").glob("*")) if p.is_dir()]
        return (f"journal {self.journal_dir} has no readable visit record (meta: {self._meta.records_read} "
                f"record(s), {self._meta.bytes_skipped} damaged byte(s); {META_COPY_LOG}: "
                f"{self._meta_copy.records_read} record(s), {self._meta_copy.bytes_skipped} damaged byte(s); "
                f"stream logs: {logs or 'none'})")

    # -- reports -------------------------------------------------------------------------------
    def seal_expectations(self) -> tuple[dict[str, StreamTally], int]:
        """What the seal checks the re-read file against: the per-stream tallies of everything appended
        (counts, first/last sequence and time, block digests) and the number of events written. The seal's
        callers take them from here, never from the writer, whose state is the compactor's own."""
        if self.writer is None:
            raise RuntimeError(f"no visit file was built from {self.journal_dir}: nothing to seal")
        return dict(self.writer.tallies), self.writer.n_events

    def recording_end_utc(self) -> str | None:
        """When the recording ended, as far as the journal read so far shows (a recovered file's `closed_utc`):
        the latest of the close record, the last event (not `recover`'s own) and the last sample of each stream
        on this machine's LSL clock mapped through the nearest clock pair (`recording_end`). None if nothing
        tells."""
        last_t = [] if self.writer is None else [
            t.last_t for name, t in self.writer.tallies.items()
            if has_local_timestamps(self.specs[name], placeholder=name in self._placeholders)]
        return recording_end_utc([self.closed_utc, self.last_event_utc], last_t, self.clock_pairs)

    def damage_report(self) -> dict[str, int]:
        """Bytes skipped over damaged journal records, per log (0 everywhere on a healthy journal)."""
        out = {"meta": self._meta.bytes_skipped, META_COPY_LOG: self._meta_copy.bytes_skipped,
               "events": self._events.bytes_skipped, "scans": self._scans.bytes_skipped}
        if (self.journal_dir / AUDIT_LOG).is_dir():  # only a visit with an audit trail (its QC unchanged otherwise)
            out[AUDIT_LOG] = self._audit.bytes_skipped
        out.update({f"streams/{k}": c.bytes_skipped for k, c in self._streams.items()})
        return out

    def journal_damage(self) -> dict[str, Any]:
        """The `journal_damage` QC entry: `ok`, damaged bytes per log, lost, repaired and rejected records."""
        cursors = {"meta": self._meta, META_COPY_LOG: self._meta_copy, "events": self._events, "scans": self._scans,
                   AUDIT_LOG: self._audit, **{f"streams/{k}": c for k, c in self._streams.items()}}
        return self.ledger.report(self.damage_report(), {k: len(c.damage) for k, c in cursors.items()})

    def qc_summary(self) -> dict[str, Any]:
        """Expected vs received samples and gaps per stream, source counters, journal damage, and the entries the
        session recorded (`QcRecord`: the pre-flight gates).

        `expected_by_seq` / `expected_by_time` only see the span between a stream's first and last samples, so
        a stream that dies before the close looks complete; `expected_by_window` counts `nominal_rate x` the
        time the visit recorded the stream (its `source.started` to its `source.stopped`, see
        `recording_window`), and `missing_by_window` what the file lacks of it (a dead tail or head shows
        there). `stalls` and `gap_rate_warnings` count the session's delivery alerts for the stream."""
        from acquisition.visitfile.recording_window import StreamWindow, journal_windows

        assert self.writer is not None
        windows = journal_windows(self.journal_dir)
        streams: dict[str, Any] = {}
        for name, tally in self.writer.tallies.items():
            spec = self.specs[name]
            expected_seq = (tally.last_seq - tally.first_seq + 1) if tally.first_seq is not None else 0
            expected_time = 0
            if spec.nominal_rate > 0 and tally.first_t is not None and tally.last_t is not None:
                expected_time = int(round((tally.last_t - tally.first_t) * spec.nominal_rate)) + 1
            win = windows.get(name, StreamWindow(end="unknown"))
            expected_window = int(round(win.seconds * spec.nominal_rate)) if spec.nominal_rate > 0 else 0
            streams[name] = {
                "expected_by_window": expected_window,
                "missing_by_window": max(0, expected_window - tally.n) if spec.nominal_rate > 0 else 0,
                "window_s": round(win.seconds, 3),
                "window_end": win.end,
                "stalls": win.stalls,
                "gap_rate_warnings": win.gap_rate_warnings,
                "received": tally.n,
                "expected_by_seq": expected_seq,
                "missing_by_seq": tally.missing,
                "gaps": len(tally.gaps),
                "out_of_order": tally.backwards,
                "expected_by_time": expected_time,
                "duration_s": (tally.last_t - tally.first_t) if tally.n > 1 else 0.0,  # type: ignore[operator]
                "nominal_rate": spec.nominal_rate,
            }
        return {**self.qc_entries, "streams": streams, "sources": self.counters,
                "journal_damage_bytes": self.damage_report(), "journal_damage": self.journal_damage()}

    def finish(self, closing_attrs: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write_calibration(self.calibration)
        self.writer.write_outcomes([tuple(r) for r in self.outcomes])  # type: ignore[misc]
        self.writer.write_audit(self.audit)
        self.writer.write_qc(self.qc_summary())
        attrs = dict(closing_attrs)
        if self.recoveries:
            attrs.setdefault("recovered_utc", self.recoveries[-1])
        # a file records whether ANY simulated source fed it, whatever the visit was opened as
        attrs["simulated"] = bool(self.visit_attrs.get("simulated")) or any(
            s.device.simulated for s in self.specs.values()
        )
        self.writer.finish(attrs)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
