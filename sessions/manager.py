"""The session manager: one open visit, its sources, its journal, its compactor; close seals the file.

States: `recording` (after `open`) -> `closing` -> `sealed` (or `failed`, with the journal kept for recovery).
The manager composes; each concept has its own module:
- `source_reader.SourceReader` / `scan_reader.ScanReader`: one thread per source or scanner, with its state
  (`running`, `degraded`, `failed`, `stopped`) and failure backoff (`reader_thread`). A source's failure is
  reported (event + counter + log) and never stops the others or the recording;
- `compaction_loop.CompactionLoop`: journal -> HDF5 while the visit runs (so closing only adds the tail, verifies
  and seals), with the periodic counters snapshots and clock pairs;
- `watch_loop.WatchLoop`: a stream that stops delivering or loses samples (`stream_watch`), as live alerts;
- `visit_journal.VisitJournal`: every write to the journal, and the latch of its failure;
- `step_timeline`: events are tagged with the step in force at their own time;
- `sealed_visit.finalize`: verify, seal, archive (shared with `recover`);
- `session_status`: the status and the watchdog's health; `session_teardown`: letting go of an unsealed visit.
- `session_sources.SessionSources`: adding and removing sources and scanners; `visit_records.VisitRecords`:
  outcomes, QC entries, audit entries and calibrations recorded during the visit (both mixins of this class).

A journal write failure (a full disk, EIO) is the one fault that stops the visit: nothing more can be recorded, so
the state goes to `failed` at once, every reader stops, and every later call raises `VisitFailed`, one line saying
what happened, what is kept and where; `close` then releases the devices and the journal, and seals nothing.
If it fails while the visit opens, nothing was recorded: `VisitOpenFailed`, the claim undone, the visit free.
A compactor failure does not stop the visit (the journal is intact): an event, a live alert, a rebuild at close.

`with SessionManager.open(...) as session:` seals on leaving the block (`close`, if not called in it); on an
exception the visit is sealed with what was recorded and the exception propagates, as the demo does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from acquisition.clock import utc_iso
from acquisition.config import AcqSettings
from acquisition.events import Event, EventKind
from acquisition.journal import Journal, JournalError
from acquisition.journal.records import CloseRecord, journal_visit
from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.source import ScanSource
from acquisition.visitfile.compactor import Compactor
from acquisition.visitfile.reader import ReplayOf
from sessions.compaction_loop import CompactionLoop
from sessions.protocol import ProtocolFile
from sessions.data_dir import prepare_data_dir
from sessions.reader_thread import ReaderContext, ReaderThread
from sessions.scan_reader import ScanEncoder, ScanReader
from sessions.session_sources import SessionSources
from sessions.session_state import SessionState
from sessions.sealed_visit import SealedVisit, finalize
from sessions.session_errors import SessionError, VisitFailed, VisitOpenFailed, error_summary
from sessions.session_status import all_progressing, session_status
from sessions.session_teardown import release_failed, request_stop_all, undo_open
from sessions.source_reader import SourceReader
from sessions.step_timeline import StepTimeline
from sessions.stream_watch import WatchSettings
from sessions.subject import VisitIdentity
from sessions.visit_calibration import VisitCalibrations
from sessions.visit_journal import VisitJournal, opening_attrs
from sessions.visit_records import VisitRecords
from sessions.visit_store import VisitStore
from sessions.watch_loop import WatchLoop

__all__ = ["ScanSource", "SealedVisit", "SessionError", "SessionManager", "SessionState", "VisitFailed", "finalize"]


class SessionManager(SessionSources, VisitRecords):
    """Open with `SessionManager.open(...)`; add sources; mark steps; `close()` seals."""

    def __init__(self, settings: AcqSettings, identity: VisitIdentity, *, simulated: bool,
                 clock: Callable[[], float] = local_clock, scan_encoder: ScanEncoder | None = None,
                 watch: WatchSettings | None = None, replay_of: ReplayOf | None = None,
                 protocol: ProtocolFile | None = None) -> None:
        self.settings = settings
        self.identity = identity
        self.simulated = simulated
        self.replay_of = replay_of
        self.protocol = protocol  # the protocol the visit is run by: its hash and text go to the file's root
        self._clock = clock
        self._log = get_logger("session", visit=identity.key)
        self.store = VisitStore(settings.data_dir)
        self.key = identity.key
        self._state = SessionState.recording
        self.sealed: SealedVisit | None = None  # set by a successful close
        self._readers: dict[str, SourceReader] = {}
        self._scanners: dict[str, ScanReader] = {}
        self._removed: list[ReaderThread] = []  # stopped by `remove_source`: their last counters stay in the QC
        self._step: str = ""
        self._step_rep = 0
        self._calibrations = VisitCalibrations(self.key)  # the visit's /calibration: ids unique, retakes linked
        self._scan_encoder = scan_encoder
        self._timeline = StepTimeline()
        self._watch = WatchLoop(watch or WatchSettings.from_settings(settings), clock=clock, log=self._log,
                                event=self.event)
        self._failed_cleanup_done = False
        self._journal: VisitJournal | None = None
        self._compaction: CompactionLoop | None = None
        self._visit_lock: Any = None
        self.journal: Journal
        self._ctx: ReaderContext

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: AcqSettings, identity: VisitIdentity, *, simulated: bool,
             calibration: Sequence[Mapping[str, Any]] = (), config_snapshot: Mapping[str, Any] | None = None,
             clock: Callable[[], float] = local_clock, scan_encoder: ScanEncoder | None = None,
             watch: WatchSettings | None = None, replay_of: ReplayOf | None = None,
             protocol: ProtocolFile | None = None) -> "SessionManager":
        """Claim the visit (refused if it exists), start the journal, the compactor and the delivery watch
        (`watch`: its thresholds, default from `settings`). A missing data directory is refused (`DataDirError`)
        unless `settings.create_data_dir`: an unmounted data disk must not put visits on the system disk. A journal
        that cannot be written here (a full disk) is `VisitOpenFailed`: nothing recorded, the claim undone.

        `replay_of`: this visit replays that sealed file (`sessions.replay`): the file says so (root attribute
        `replay_of`), production mode refuses it (a replay is never trial data), and the delivery watch is off
        (the original's own stall and gap-rate events are replayed from the file; a virtual clock that jumps
        would raise false ones)."""
        if settings.production and simulated:
            raise SessionError("production mode refuses a simulated visit")
        if settings.production and replay_of is not None:
            raise SessionError(f"production mode refuses to record a replay of {replay_of.label} as a new visit: a "
                               "replay is never trial data")
        self = cls(settings, identity, simulated=simulated, clock=clock, scan_encoder=scan_encoder, watch=watch,
                   replay_of=replay_of, protocol=protocol)
        prepare_data_dir(settings.data_dir, create=settings.create_data_dir)
        self._visit_lock = self.store.claim(self.key)  # held until sealed: `recover` leaves this visit alone
        try:
            self._start(calibration, config_snapshot)
        except (JournalError, OSError, VisitFailed) as exc:
            raise self._open_failed(exc) from None
        self._log.info("visit.opened", subject=identity.subject, visit=identity.visit.value, simulated=simulated)
        return self

    def _start(self, calibration: Sequence[Mapping[str, Any]], config_snapshot: Mapping[str, Any] | None) -> None:
        settings, identity, clock = self.settings, self.identity, self._clock
        vj = self._journal = VisitJournal(
            self.store.journal_dir(self.key), self.key, fsync_interval_s=settings.fsync_interval_s, clock=clock,
            log=self._log, step_at=self._timeline.at, stop_all=self._stop_all, alert=self._watch.push,
            over=lambda: "" if self._state in (SessionState.recording, SessionState.closing) else self._state.value)
        self.journal = vj.journal
        self._ctx = ReaderContext(
            clock=clock, log=self._log, journal=self.journal, event=self.event, journal_event=vj.write_event,
            step_at=self._timeline.at, current_step=lambda: self._step, journal_failed=vj.failed,
            visit_failed=lambda: self._failure is not None,
            chunk_recorded=lambda ch: self._watch.on_chunk(ch.stream, ch.device_seq))
        t0, utc0 = clock(), utc_iso()
        attrs = opening_attrs(settings, identity, simulated=self.simulated, config_snapshot=config_snapshot,
                              t0=t0, utc0=utc0, replay_of=self.replay_of, protocol=self.protocol)
        # the visit record and calibration go to `meta` and, as copies, to `meta-copy`
        journal_visit(self.journal, attrs, [dict(r) for r in calibration])
        self._calibrations = VisitCalibrations(self.key, calibration)
        self.event("visit_open", "visit.opened", payload={"subject": identity.subject, "visit": identity.visit.value,
                                                          "operator": identity.operator})
        self.event("clock", "clock.pair", payload={"t_lsl": t0, "utc": utc0, "boot_id": attrs.boot_id})
        self._compaction = CompactionLoop(
            self.store.journal_dir(self.key), self.store.partial_path(self.key),
            writer_options={"compression": settings.compression, "compression_level": settings.compression_level,
                            "cache_bytes": settings.hdf5_cache_mb * 1024 * 1024},
            interval_s=settings.compaction_interval_s, clock=clock, log=self._log, write_counters=vj.write_meta,
            event=self.event, readers=self._counted_readers, alert=self._watch.push)
        self._compaction.start()
        if self.replay_of is None:
            self._watch.start()

    def _open_failed(self, exc: BaseException) -> VisitOpenFailed:
        """The journal failed while opening: undo it all (`session_teardown.undo_open`), release the claim."""
        failure = undo_open(exc, store=self.store, key=self.key, watch=self._watch, compaction=self._compaction,
                            journal=self._journal, log=self._log)
        self._failed_cleanup_done = True
        self._release_visit()
        return failure

    def __enter__(self) -> "SessionManager":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Seal what was recorded unless `close()` was called in the block; release a failed visit (raising its
        `VisitFailed`). An exception of the block propagates after the seal (never swallowed)."""
        if self.state is SessionState.recording or (self._failure is not None and not self._failed_cleanup_done):
            if exc is not None:
                self._log.warning("visit.closing_on_error", error=type(exc).__name__)
            self.close()

    @property
    def compactor(self) -> Compactor:
        """The compactor building this visit's file (rebuilt at close if it failed)."""
        assert self._compaction is not None, "the visit is not open"
        return self._compaction.compactor

    @property
    def _compactor_error(self) -> BaseException | None:
        return self._compaction.error if self._compaction is not None else None

    def _all_readers(self) -> list[ReaderThread]:
        return [*self._readers.values(), *self._scanners.values()]

    def _counted_readers(self) -> list[ReaderThread]:
        """Whose counters the QC snapshots: the running readers, after those removed before (same name: the
        running one wins)."""
        return [*self._removed, *self._all_readers()]

    @property
    def state(self) -> SessionState:
        """`failed` as soon as the journal failed (whichever thread met it), else where `close` got to."""
        return SessionState.failed if self._failure is not None else self._state

    @property
    def _failure(self) -> VisitFailed | None:
        return self._journal.failure if self._journal is not None else None

    def _stop_all(self) -> None:
        """The journal failed: every thread ends at its next turn (joined by `_cleanup_failed`)."""
        request_stop_all(self._all_readers(), self._watch, self._compaction)

    def event(self, kind: EventKind, name: str, *, stream: str = "", step: str | None = None,
              payload: Mapping[str, Any] | None = None, t_lsl: float | None = None) -> Event:
        """Journal an event; `step` defaults to the step in force at `t_lsl` (default now)."""
        assert self._journal is not None, "the visit is not open"
        t = self._clock() if t_lsl is None else t_lsl
        ev = Event(t_lsl=t, utc=utc_iso(), kind=kind, name=name, stream=stream,
                   step=self._timeline.at(t) if step is None else step, payload=dict(payload or {}))
        self._journal.write_event(ev)
        return ev

    def _cleanup_failed(self) -> None:
        """After a journal failure: release everything (`session_teardown.release_failed`) and the claim, so
        `recover` can take the journal; never seal. Idempotent."""
        if self._failed_cleanup_done:
            return
        self._failed_cleanup_done = True
        release_failed(self._all_readers(), self._watch, self._compaction, self._journal, self._log)
        self._release_visit()

    def _release_visit(self) -> None:
        if self._visit_lock is not None:
            self._visit_lock.release()

    # -- live alerts -------------------------------------------------------------------------------
    def drain_alerts(self) -> list[Event]:
        """Events the technician must see now (stalls, gap rates, a failed visit), oldest first, each once.
        `sessions.stream_watch.alert_line(ev)` words them."""
        return self._watch.drain()

    # -- protocol steps and markers -------------------------------------------------------------------
    @property
    def current_step(self) -> str:
        return self._step

    def _tell_sources(self, step: str, duration_s: float) -> None:
        for r in self._all_readers():
            r.tell_step(step, duration_s)

    def start_step(self, step: str, *, repetition: int = 1, duration_s: float = 0.0) -> float:
        """Begin `step` (ending the one in force); returns its start on the session's clock (the runner's QC
        reads the journal over exactly that interval)."""
        self._require(SessionState.recording)
        if self._step:
            self.end_step()
        t = self._clock()
        self._timeline.begin(t, step)
        self._step, self._step_rep = step, repetition
        self._tell_sources(step, duration_s)
        self.event("step_start", "step.started", step=step, t_lsl=t, payload={"repetition": repetition,
                                                                              "duration_s": duration_s})
        self._log.info("step.started", step=step, repetition=repetition)
        return t

    def end_step(self) -> float | None:
        """End the step in force; returns its end on the session's clock (None: no step was in force)."""
        if self._failure is not None:
            raise self._failure
        if not self._step:
            return None
        t = self._clock()
        self._timeline.end(t)
        self.event("step_end", "step.ended", step=self._step, t_lsl=t, payload={"repetition": self._step_rep})
        self._tell_sources("idle", 0.0)
        self._step = ""
        return t

    def marker(self, name: str, **payload: Any) -> None:
        self._require(SessionState.recording)
        self.event("marker", name, payload=payload)

    def operator_action(self, name: str, **payload: Any) -> None:
        if self._failure is not None:
            raise self._failure
        self.event("operator", name, payload=payload)

    # -- status / watchdog (`session_status`) -----------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return session_status(key=self.key, state=self.state.value, step=self._step, readers=self._all_readers(),
                              journal_counters=self.journal.counters(), now=self._clock())

    def all_progressing(self, max_age_s: float = 5.0) -> bool:
        """The watchdog's feed condition (`session_status.all_progressing`)."""
        return all_progressing(readers=self._all_readers(), now=self._clock(), max_age_s=max_age_s,
                               journal_failed=self._failure is not None, watch_alive=self._watch.alive,
                               compaction=self._compaction)

    # -- closing ---------------------------------------------------------------------------------------
    def close(self) -> SealedVisit:
        """Stop sources, journal the tail, finish the file, verify it against the journal and seal it.
        A visit whose journal failed is not sealed: its devices and journal are released and `VisitFailed`
        (one line: what is kept, where, run recover) is raised, at every call."""
        if self._failure is not None:
            self._cleanup_failed()
            raise self._failure
        self._require(SessionState.recording)
        assert self._compaction is not None and self._journal is not None
        self._state = SessionState.closing
        try:
            self.end_step()
            for r in self._all_readers():
                self._stop_reader(r)
            self._watch.stop()
            self._compaction.snapshot_counters()
            t1, utc1 = self._clock(), utc_iso()
            self.event("clock", "clock.pair", payload={"t_lsl": t1, "utc": utc1})
            self.event("visit_close", "visit.closed", payload={})
            self._journal.write_meta(CloseRecord(closed_utc=utc1))
            self._journal.flush()
        except VisitFailed:
            self._cleanup_failed()
            raise
        self._compaction.stop()
        try:
            compactor = self._compaction.finish(utc1)
            try:
                self.journal.close()
            except (JournalError, OSError) as exc:  # its last fsync failed: the record is not known durable
                failure = self._journal.failed(exc)
                self._cleanup_failed()
                raise failure from None
            sealed = finalize(self.store, self.key, compactor)
        except VisitFailed:
            raise
        except Exception as exc:
            self._state = SessionState.failed
            # one line (the CLI says it to the operator once); the traceback only at DEBUG
            self._log.error("visit.close_failed", error=f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
            self._log.debug("visit.close_failed_detail", exc_info=True)
            self._journal.release()  # not sealed: let go of the journal and the visit so `recover` can finish it
            self._release_visit()
            raise
        self._state = SessionState.sealed
        self.sealed = sealed
        self._release_visit()
        self._log.info("visit.sealed", path=str(sealed.path), sha256=sealed.sha256)
        return sealed

    def _require(self, state: SessionState) -> None:
        if self._failure is not None:
            raise self._failure
        if self.state is not state:
            raise SessionError(f"visit {self.key} is {self.state.value}, not {state.value}")
