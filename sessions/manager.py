"""The session manager: one open visit, its sources, its journal, its compactor; close seals the file.

States: `recording` (after `open`) -> `closing` -> `sealed` (or `failed`, with the journal kept for recovery).
Each source is read by its own thread; a source's failure is reported (event + counter + log) and never stops the
others or the recording. The compactor thread moves journal records into the HDF5 file while the visit runs, so
closing only adds the tail, verifies and seals.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from acquisition import __version__
from acquisition.chunk import Chunk
from acquisition.clock import boot_id, utc_iso
from acquisition.config import AcqSettings
from acquisition.events import Event, EventKind
from acquisition.journal import Journal, encode_chunk, encode_event, encode_json
from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.source import Source, StepAware
from acquisition.stream import StreamSpec
from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.scan_record import encode_scan
from acquisition.visitfile.seal import seal_file
from acquisition.visitfile.verify import VerifyReport
from sessions.privacy import scrub_names
from sessions.subject import VisitIdentity
from sessions.visit_store import VisitStore


class SessionState(str, Enum):
    recording = "recording"
    closing = "closing"
    sealed = "sealed"
    failed = "failed"


class SessionError(RuntimeError):
    """A session operation was refused (wrong state, production mode, duplicate source...)."""


@runtime_checkable
class ScanSource(Protocol):
    """A file-delivering instrument (the facial scanner): polled for finished captures."""

    @property
    def name(self) -> str: ...

    def open(self) -> None: ...

    def poll(self) -> Sequence[Any]: ...

    def drain_events(self) -> Sequence[Event]: ...

    def counters(self) -> Mapping[str, int]: ...

    def close(self) -> None: ...


@dataclass
class SealedVisit:
    path: Path
    sha256: str
    report: VerifyReport
    qc: dict[str, Any]
    journal_archive: Path


@dataclass
class _Reader:
    source: Any
    thread: threading.Thread
    stop: threading.Event = field(default_factory=threading.Event)
    last_progress: float = 0.0
    errors: int = 0
    chunks_rejected: int = 0
    specs: dict[str, StreamSpec] = field(default_factory=dict)
    outlets: dict[str, Any] = field(default_factory=dict)
    scrub: bool = False  # pseudonymise file/folder names in this source's event payloads


ScanEncoder = Callable[[Any], tuple[str, dict[str, Any], dict[str, Any]]]


class SessionManager:
    """Open with `SessionManager.open(...)`; add sources; mark steps; `close()` seals."""

    def __init__(self, settings: AcqSettings, identity: VisitIdentity, *, simulated: bool,
                 clock: Callable[[], float] = local_clock, scan_encoder: ScanEncoder | None = None) -> None:
        self.settings = settings
        self.identity = identity
        self.simulated = simulated
        self._clock = clock
        self._log = get_logger("session", visit=identity.key)
        self.store = VisitStore(settings.data_dir)
        self.key = identity.key
        self.state = SessionState.recording
        self._readers: dict[str, _Reader] = {}
        self._scanners: dict[str, _Reader] = {}
        self._events_lock = threading.Lock()
        self._meta_lock = threading.Lock()
        self._step: str = ""
        self._step_rep = 0
        self._scan_encoder = scan_encoder
        self._stop_compactor = threading.Event()
        self._compactor_error: BaseException | None = None
        self.journal: Journal
        self.compactor: Compactor
        self._compactor_thread: threading.Thread

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: AcqSettings, identity: VisitIdentity, *, simulated: bool,
             calibration: Sequence[Mapping[str, Any]] = (), config_snapshot: Mapping[str, Any] | None = None,
             clock: Callable[[], float] = local_clock, scan_encoder: ScanEncoder | None = None) -> "SessionManager":
        """Claim the visit (refused if it exists), start the journal and the compactor."""
        if settings.production and simulated:
            raise SessionError("production mode refuses a simulated visit")
        self = cls(settings, identity, simulated=simulated, clock=clock, scan_encoder=scan_encoder)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store.create(self.key)
        self.journal = Journal(self.store.journal_dir(self.key), fsync_interval_s=settings.fsync_interval_s)
        self._meta = self.journal.log("meta")
        self._events = self.journal.log("events")
        self._scans_log = self.journal.log("scans")
        t0, utc0 = clock(), utc_iso()
        attrs = {
            "software_version": __version__,
            "site": identity.site,
            "subject": identity.subject,
            "visit": identity.visit.value,
            "operator": identity.operator,
            "started_utc": utc0,
            "closed_utc": "",
            "state": "recording",
            "simulated": bool(simulated),
            "config": json.dumps(config_snapshot if config_snapshot is not None
                                 else json.loads(settings.model_dump_json()), sort_keys=True),
            "boot_id": boot_id(),
            "started_t_lsl": t0,
        }
        self._write_meta({"type": "visit", "attrs": attrs})
        if calibration:
            self._write_meta({"type": "calibration", "records": list(calibration)})
        self.event("visit_open", "visit.opened", payload={"subject": identity.subject, "visit": identity.visit.value,
                                                          "operator": identity.operator})
        self.event("clock", "clock.pair", payload={"t_lsl": t0, "utc": utc0, "boot_id": attrs["boot_id"]})
        self.compactor = Compactor(
            self.store.journal_dir(self.key), self.store.partial_path(self.key),
            writer_options={"compression": settings.compression, "compression_level": settings.compression_level,
                            "cache_bytes": settings.hdf5_cache_mb * 1024 * 1024},
        )
        self._compactor_thread = threading.Thread(target=self._compact_loop, name="compactor", daemon=True)
        self._compactor_thread.start()
        self._log.info("visit.opened", subject=identity.subject, visit=identity.visit.value, simulated=simulated)
        return self

    # -- journal helpers -------------------------------------------------------------------------
    def _write_meta(self, rec: Mapping[str, Any]) -> None:
        with self._meta_lock:
            self._meta.append(encode_json(dict(rec)))

    def event(self, kind: EventKind, name: str, *, stream: str = "", step: str | None = None,
              payload: Mapping[str, Any] | None = None, t_lsl: float | None = None) -> Event:
        ev = Event(t_lsl=self._clock() if t_lsl is None else t_lsl, utc=utc_iso(), kind=kind, name=name,
                   stream=stream, step=self._step if step is None else step, payload=dict(payload or {}))
        self._journal_event(ev)
        return ev

    def _journal_event(self, ev: Event) -> None:
        with self._events_lock:
            self._events.append(encode_event(ev))

    # -- sources ---------------------------------------------------------------------------------
    def add_source(self, source: Source, *, opened: bool = False) -> list[StreamSpec]:
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
        if self.settings.production and any(s.device.simulated for s in specs):
            source.close()
            raise SessionError(f"production mode refuses simulated source {source.name!r}")
        known = {n for r in self._readers.values() for n in r.specs}
        for spec in specs:
            if spec.name in known:
                source.close()
                raise SessionError(f"stream {spec.name!r} of {source.name!r} is already recorded by another source")
        for spec in specs:
            self._write_meta({"type": "stream", "spec": json.loads(spec.model_dump_json())})
        reader = _Reader(source=source, thread=threading.Thread(name=f"reader:{source.name}", daemon=True,
                                                                  target=lambda: self._read_loop(reader)))
        reader.specs = {s.name: s for s in specs}
        reader.last_progress = self._clock()
        if self.settings.lsl_outlets and getattr(source, "republish", True):
            from acquisition.lsl.outlet import StreamOutletView

            for spec in specs:
                try:
                    reader.outlets[spec.name] = StreamOutletView(spec)
                except Exception as exc:  # noqa: BLE001 - the live view is optional, the record is not
                    self._log.warning("outlet.failed", stream=spec.name, error=str(exc))
        self.event("device", "source.started", stream=",".join(reader.specs),
                   payload={"source": source.name,
                            "devices": [json.loads(s.device.model_dump_json()) for s in specs]})
        if self._step and isinstance(source, StepAware):
            source.set_step(self._step, 0.0)
        self._readers[source.name] = reader
        reader.thread.start()
        self._log.info("source.started", source=source.name, streams=list(reader.specs))
        return specs

    def _read_loop(self, r: _Reader) -> None:
        src = r.source
        timeout = self.settings.reader_timeout_s
        while not r.stop.is_set():
            try:
                chunks = src.read(timeout)
            except Exception as exc:  # noqa: BLE001 - reported, counted, and the loop goes on
                r.errors += 1
                self._log.error("source.read_failed", source=src.name, error=repr(exc))
                self.event("device", "source.read_failed", payload={"source": src.name, "error": repr(exc)})
                r.stop.wait(0.2)
                chunks = []
            for ch in chunks:
                self._accept(r, ch)
            self._drain_source_events(r)
            r.last_progress = self._clock()

    def _accept(self, r: _Reader, ch: Chunk) -> None:
        spec = r.specs.get(ch.stream)
        problem = ""
        if spec is None:
            problem = f"unknown stream {ch.stream!r}"
        elif ch.data.shape[1] != spec.n_channels:
            problem = f"{ch.data.shape[1]} channels, spec says {spec.n_channels}"
        elif ch.data.dtype != spec.np_dtype:
            problem = f"dtype {ch.data.dtype}, spec says {spec.dtype}"
        if problem:
            r.chunks_rejected += 1
            self._log.error("chunk.rejected", source=r.source.name, problem=problem)
            self.event("device", "chunk.rejected", stream=ch.stream, payload={"source": r.source.name,
                                                                               "problem": problem, "n": ch.n})
            return
        self.journal.log(f"streams/{ch.stream}").append(encode_chunk(ch))
        outlet = r.outlets.get(ch.stream)
        if outlet is not None:
            try:
                outlet.push(ch)
            except Exception as exc:  # noqa: BLE001 - live view only
                self._log.warning("outlet.push_failed", stream=ch.stream, error=str(exc))

    def _drain_source_events(self, r: _Reader) -> None:
        try:
            evs = r.source.drain_events()
        except Exception as exc:  # noqa: BLE001
            self._log.error("source.events_failed", source=r.source.name, error=repr(exc))
            return
        for ev in evs:
            if not ev.step and self._step:
                ev = ev.model_copy(update={"step": self._step})
            if r.scrub:
                ev = ev.model_copy(update={"payload": scrub_names(ev.payload)})
            self._journal_event(ev)

    def remove_source(self, name: str) -> None:
        r = self._readers.pop(name, None)
        if r is None:
            raise SessionError(f"no source named {name!r}")
        self._stop_reader(r)

    def _stop_reader(self, r: _Reader) -> None:
        r.stop.set()
        r.thread.join(timeout=5.0)
        if r.thread.is_alive():
            self._log.error("source.stop_timeout", source=r.source.name)
        try:
            r.source.close()
        except Exception as exc:  # noqa: BLE001
            self._log.error("source.close_failed", source=r.source.name, error=repr(exc))
        self._drain_source_events(r)
        for o in r.outlets.values():
            o.close()
        self.event("device", "source.stopped", payload={"source": r.source.name,
                                                        "counters": dict(r.source.counters())})

    # -- scanner (file source) -------------------------------------------------------------------
    def add_scanner(self, scanner: ScanSource, *, poll_s: float = 0.2) -> None:
        self._require(SessionState.recording)
        if self._scan_encoder is None:
            raise SessionError("no scan encoder configured for this session")
        scanner.open()
        reader = _Reader(source=scanner, thread=threading.Thread(name=f"scanner:{scanner.name}", daemon=True,
                                                                   target=lambda: self._scan_loop(reader, poll_s)))
        reader.last_progress = self._clock()
        reader.scrub = True
        self._scanners[scanner.name] = reader
        self.event("device", "source.started", payload={"source": scanner.name})
        if self._step and isinstance(scanner, StepAware):
            scanner.set_step(self._step, 0.0)
        reader.thread.start()

    def _scan_loop(self, r: _Reader, poll_s: float) -> None:
        assert self._scan_encoder is not None
        while not r.stop.is_set():
            self._poll_scanner(r)
            r.last_progress = self._clock()
            r.stop.wait(poll_s)
        self._poll_scanner(r)

    def _poll_scanner(self, r: _Reader) -> None:
        assert self._scan_encoder is not None
        try:
            captures = r.source.poll()
        except Exception as exc:  # noqa: BLE001
            r.errors += 1
            self._log.error("scanner.poll_failed", source=r.source.name, error=repr(exc))
            self.event("device", "scanner.poll_failed", payload={"source": r.source.name, "error": repr(exc)})
            captures = []
        for cap in captures:
            scan_id, arrays, attrs = self._scan_encoder(cap)
            attrs = {**attrs, "step": self._step}
            self._scans_log.append(encode_scan(scan_id, arrays, attrs))
        self._drain_source_events(r)

    # -- protocol steps and markers -------------------------------------------------------------------
    @property
    def current_step(self) -> str:
        return self._step

    def start_step(self, step: str, *, repetition: int = 1, duration_s: float = 0.0) -> None:
        self._require(SessionState.recording)
        if self._step:
            self.end_step()
        self._step, self._step_rep = step, repetition
        for r in list(self._readers.values()) + list(self._scanners.values()):
            if isinstance(r.source, StepAware):
                try:
                    r.source.set_step(step, duration_s)
                except Exception as exc:  # noqa: BLE001
                    self._log.warning("source.set_step_failed", source=r.source.name, error=repr(exc))
        self.event("step_start", "step.started", step=step, payload={"repetition": repetition,
                                                                     "duration_s": duration_s})
        self._log.info("step.started", step=step, repetition=repetition)

    def end_step(self) -> None:
        if not self._step:
            return
        self.event("step_end", "step.ended", step=self._step, payload={"repetition": self._step_rep})
        for r in list(self._readers.values()) + list(self._scanners.values()):
            if isinstance(r.source, StepAware):
                try:
                    r.source.set_step("idle", 0.0)
                except Exception as exc:  # noqa: BLE001 - a simulated patient, never worth stopping a visit
                    self._log.warning("source.set_step_failed", source=r.source.name, error=repr(exc))
        self._step = ""

    def marker(self, name: str, **payload: Any) -> None:
        self._require(SessionState.recording)
        self.event("marker", name, payload=payload)

    def operator_action(self, name: str, **payload: Any) -> None:
        self.event("operator", name, payload=payload)

    # -- status / watchdog -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "visit": self.key,
            "state": self.state.value,
            "step": self._step,
            "sources": {
                name: {"streams": list(r.specs), "counters": dict(r.source.counters()), "errors": r.errors,
                       "chunks_rejected": r.chunks_rejected, "since_progress_s": round(now - r.last_progress, 3)}
                for name, r in {**self._readers, **self._scanners}.items()
            },
            "journal": self.journal.counters(),
        }

    def all_progressing(self, max_age_s: float = 5.0) -> bool:
        """True when every reader and the compactor made progress recently (watchdog feed condition)."""
        now = self._clock()
        readers_ok = all(now - r.last_progress < max_age_s for r in {**self._readers, **self._scanners}.values())
        return readers_ok and self._compactor_thread.is_alive() and self._compactor_error is None

    # -- compactor -------------------------------------------------------------------------------------
    def _compact_loop(self) -> None:
        next_counters = 0.0
        next_pair = self._clock() + 60.0
        while not self._stop_compactor.wait(self.settings.compaction_interval_s):
            try:
                now = self._clock()
                if now >= next_counters:
                    next_counters = now + 5.0
                    self._snapshot_counters()
                if now >= next_pair:  # (LSL clock, UTC) pairs through the visit, to place it on the calendar
                    next_pair = now + 60.0
                    t, utc = self._clock(), utc_iso()
                    self.event("clock", "clock.pair", payload={"t_lsl": t, "utc": utc})
                self.compactor.run_once()
            except Exception as exc:  # noqa: BLE001 - the journal still has everything; close rebuilds
                self._compactor_error = exc
                self._log.error("compactor.failed", error=repr(exc))
                return

    def _snapshot_counters(self) -> None:
        snap: dict[str, Any] = {}
        for name, r in {**self._readers, **self._scanners}.items():
            try:
                c = dict(r.source.counters())
            except Exception as exc:  # noqa: BLE001
                c = {"error": repr(exc)}
            c["read_errors"] = r.errors
            c["chunks_rejected"] = r.chunks_rejected
            snap[name] = c
        self._write_meta({"type": "counters", "sources": snap})

    # -- closing ---------------------------------------------------------------------------------------
    def record_outcomes(self, rows: Sequence[tuple[str, str, float, str, str]]) -> None:
        self._write_meta({"type": "outcomes", "rows": [list(r) for r in rows]})

    def close(self) -> SealedVisit:
        """Stop sources, journal the tail, finish the file, verify it against the journal and seal it."""
        self._require(SessionState.recording)
        self.state = SessionState.closing
        self.end_step()
        for r in list(self._readers.values()) + list(self._scanners.values()):
            self._stop_reader(r)
        self._snapshot_counters()
        t1, utc1 = self._clock(), utc_iso()
        self.event("clock", "clock.pair", payload={"t_lsl": t1, "utc": utc1})
        self.event("visit_close", "visit.closed", payload={})
        self._write_meta({"type": "close", "closed_utc": utc1})
        self.journal.flush()
        self._stop_compactor.set()
        self._compactor_thread.join()
        try:
            if self._compactor_error is not None:
                # the incremental file is not trusted: rebuild it from the journal
                self.compactor.abort()
                self.store.partial_path(self.key).unlink(missing_ok=True)
                self.compactor = Compactor(self.store.journal_dir(self.key), self.store.partial_path(self.key),
                                           writer_options=self.compactor._writer_options)
            self.compactor.run_once(final=True)
            self.compactor.finish({"closed_utc": utc1, "state": "sealed"})
            self.journal.close()
            sealed = finalize(self.store, self.key, self.compactor)
        except Exception:
            self.state = SessionState.failed
            self._log.error("visit.close_failed", exc_info=True)
            raise
        self.state = SessionState.sealed
        self._log.info("visit.sealed", path=str(sealed.path), sha256=sealed.sha256)
        return sealed

    def _require(self, state: SessionState) -> None:
        if self.state is not state:
            raise SessionError(f"visit {self.key} is {self.state.value}, not {state.value}")


def finalize(store: VisitStore, key: str, compactor: Compactor) -> SealedVisit:
    """Verify the finished partial file against the journal tallies, seal it, archive the journal."""
    assert compactor.writer is not None
    digest, report = seal_file(
        store.partial_path(key), store.final_path(key), data_dir=store.data_dir,
        expected=compactor.writer.tallies, expected_events=compactor.writer.n_events,
    )
    qc = compactor.qc_summary()
    archive = store.archive(key)
    return SealedVisit(path=store.final_path(key), sha256=digest, report=report, qc=qc, journal_archive=archive)
