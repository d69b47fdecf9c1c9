"""`VisitJournal`: the journal of an open visit as the session writes it, and the latch of its failure.

Every write of the session goes through here: typed `meta` records (`acquisition.journal.records`), events, and
(by the readers, on `journal`) chunks and scans. A journal write failure (a full disk, EIO) is the one fault that
stops a visit, since nothing more can be recorded: whichever thread meets it calls `failed(exc)`, which latches a
`VisitFailed` once (one line: what failed, up to when the record is kept, where, what to do), has the session stop
every thread (`stop_all`; nothing is joined there, the caller may be one of them), journals a `visit.failed`
event if the events log still takes it, and hands that event to the technician (`alert`). Every later write
raises the same `VisitFailed`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from acquisition import __version__
from acquisition.clock import boot_id, utc_iso
from acquisition.config import AcqSettings
from acquisition.events import Event
from acquisition.journal import Journal, JournalError, encode_event
from acquisition.journal.records import (AuditRecord, VisitAttrs, encode_meta, journal_audit,
                                         journal_calibration)
from acquisition.visitfile.schema import PROTOCOL_ATTR, PROTOCOL_TOML_ATTR, REPLAY_OF_ATTR
from sessions.session_errors import SessionError, VisitFailed, error_summary, storage_reason
from sessions.subject import VisitIdentity

if TYPE_CHECKING:
    from sessions.protocol import ProtocolFile

__all__ = ["VisitJournal", "opening_attrs"]


class VisitJournal:
    """The visit's `Journal` (`journal`), its `meta` and `events` writers, and its failure (`failure`)."""

    def __init__(self, journal_dir: Path, key: str, *, fsync_interval_s: float, clock: Callable[[], float],
                 log: Any, step_at: Callable[[float], str], over: Callable[[], str],
                 stop_all: Callable[[], None], alert: Callable[[Event], None]) -> None:
        self.journal_dir = Path(journal_dir)
        self.key = key
        self.journal = Journal(self.journal_dir, fsync_interval_s=fsync_interval_s)
        self._meta = self.journal.log("meta")
        self._events = self.journal.log("events")
        self.journal.log("scans")
        self._clock = clock
        self._log = log
        self._step_at = step_at
        self._over = over  # the visit's state once it is over (sealed, failed at close), "" while it records
        self._stop_all = stop_all
        self._alert = alert
        self._meta_lock = threading.Lock()
        self._events_lock = threading.Lock()
        self._latch = threading.Lock()
        self._failure: VisitFailed | None = None

    @property
    def failure(self) -> VisitFailed | None:
        return self._failure

    def check(self) -> None:
        """Raise the visit's `VisitFailed` if its journal failed."""
        if self._failure is not None:
            raise self._failure

    def write_meta(self, rec: BaseModel) -> None:
        """Journal a typed `meta` record."""
        self.check()
        try:
            with self._meta_lock:
                self._meta.append(encode_meta(rec))
        except (JournalError, OSError) as exc:
            raise self.failed(exc) from None

    def write_event(self, ev: Event) -> None:
        self.check()
        try:
            with self._events_lock:
                self._events.append(encode_event(ev))
        except (JournalError, OSError) as exc:
            raise self.failed(exc) from None

    def write_audit(self, rec: "AuditRecord") -> None:
        """Journal one entry of the visit's audit chain in its own log, fsynced now (`journal_audit`)."""
        self.check()
        try:
            journal_audit(self.journal, rec)
        except (JournalError, OSError) as exc:  # a full disk: the visit fails, in one line
            raise self.failed(exc) from None

    def write_calibration(self, records: list[dict[str, Any]], *, batch: int) -> None:
        """Journal calibration records taken during the visit in `meta` and `meta-copy` (`journal_calibration`)."""
        self.check()
        try:
            journal_calibration(self.journal, records, batch=batch)
        except (JournalError, OSError) as exc:  # a full disk: the visit fails, in one line
            raise self.failed(exc) from None

    def flush(self) -> None:
        try:
            self.journal.flush()
        except (JournalError, OSError) as exc:
            raise self.failed(exc) from None

    def release(self) -> None:
        """Close the journal without raising (a failed or unsealed visit lets go of it for `recover`)."""
        try:
            self.journal.close()
        except (JournalError, OSError) as exc:
            self._log.error("journal.close_failed", error=str(exc))

    def failed(self, exc: BaseException) -> SessionError:
        """Called by whichever thread met the failed write. Returns the `VisitFailed` for the caller to raise
        (a plain `SessionError` once the visit is over: sealed, or failed at close)."""
        with self._latch:
            if self._failure is None and (state := self._over()):
                return SessionError(f"visit {self.key} is {state}: {exc}".splitlines()[0])
            if self._failure is not None:
                return self._failure
            reason, no_space = storage_reason(exc)
            failure = self._failure = VisitFailed(self.key, reason, recorded_until_utc=utc_iso(), no_space=no_space,
                                                  journal_dir=self.journal_dir)
        self._stop_all()
        self._log.error("visit.failed", reason=failure.reason, journal=str(failure.journal_dir),
                        recorded_until_utc=failure.recorded_until_utc, error=error_summary(exc))
        self._log.debug("visit.failed_detail", error=str(exc))  # the full text (a segment's path): DEBUG only
        ev = Event(t_lsl=self._clock(), utc=utc_iso(), kind="operator", name="visit.failed",
                   step=self._step_at(self._clock()),
                   payload={"reason": failure.reason, "recorded_until_utc": failure.recorded_until_utc})
        try:  # the events log may still take it (only one log's disk or segment failed)
            with self._events_lock:
                self._events.append(encode_event(ev))
        except Exception as exc2:  # noqa: BLE001 - the failure is already recorded in state, log and error
            self._log.error("visit.failed_event_lost", error=error_summary(exc2))
        self._alert(ev)
        return failure


def opening_attrs(settings: AcqSettings, identity: VisitIdentity, *, simulated: bool,
                  config_snapshot: Mapping[str, Any] | None, t0: float, utc0: str,
                  replay_of: BaseModel | None = None, protocol: ProtocolFile | None = None) -> VisitAttrs:
    """The visit record's attributes as the visit opens (the journal's first record, the file's root); a replay
    adds `replay_of` (JSON, `acquisition.visitfile.schema.REPLAY_OF_ATTR`), a visit run by a protocol adds its
    stamp `protocol` (JSON: name, version, SHA-256 of the file's bytes) and the file's text `protocol_toml`."""
    extra = {} if replay_of is None else {REPLAY_OF_ATTR: replay_of.model_dump_json(exclude_none=True)}
    if protocol is not None:
        extra |= {PROTOCOL_ATTR: protocol.stamp().model_dump_json(), PROTOCOL_TOML_ATTR: protocol.text}
    config = (config_snapshot if config_snapshot is not None
              # the data dir's path is the exam-room PC's, not the trial's: its name only
              else {**json.loads(settings.model_dump_json()), "data_dir": settings.data_dir.name})
    return VisitAttrs(
        software_version=__version__, site=identity.site, subject=identity.subject, visit=identity.visit.value,
        operator=identity.operator, started_utc=utc0, closed_utc="", state="recording", simulated=bool(simulated),
        config=json.dumps(config, sort_keys=True), boot_id=boot_id(), started_t_lsl=t0, **extra)
