"""Seal visits left open by a crash: rebuild each visit file from its journal, verify, seal.

The partially built HDF5 file of a crashed process is never trusted (h5py never fsyncs; a killed writer can leave
it unreadable): it is moved aside and the file is rebuilt from the journal, which keeps every record whose CRC
checks out. The file's state is `recovered`, its `closed_utc` the time of the last record of the recording (its
`recovered_utc` the time of the recovery) and the timeline gets a `visit.recovered` event.

Rules, because one bad visit must never block the others nor its own subject and visit code:
- one `recover` at a time per data directory (the data-dir lock); a visit still being recorded (its
  `visit.lock` held) is left alone;
- each open visit is recovered on its own: whatever goes wrong with one is one line and the next one goes on;
- a journal is read (whose visit is it? is there anything to build?) before anything is written to it;
  a visit that can never be recovered (nothing recorded, no readable visit record, the journal names another
  visit) is moved aside whole to `.unrecoverable/`, which frees its code; one that may be recovered later
  (a full disk, an unexpected error) is left in place;
- an interrupted seal is finished step by step (read-only, second link dropped, manifest line, archive).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


from acquisition.clock import utc_iso
from acquisition.events import Event
from acquisition.journal import Journal, encode_event
from acquisition.journal.layout import LOCK_FILE, fsync_dir
from acquisition.journal.records import RecoveredRecord, encode_meta
from acquisition.lslenv import local_clock
from acquisition.log import get_logger
from acquisition.visitfile.compactor import RECOVERED_EVENT, Compactor, JournalUnusable
from acquisition.visitfile.journal_ledger import damage_items
from acquisition.visitfile.manifest import MANIFEST_NAME, append_manifest, read_manifest, sha256_file
from acquisition.visitfile.reader import VisitFile, VisitFileError
from acquisition.visitfile.schema import visit_key
from acquisition.visitfile.seal import READ_ONLY, SealError, seal_os_error
from acquisition.visitfile.verify import verify_file
from sessions.lockfile import LockBusy, acquire
from sessions.sealed_visit import SealedVisit, finalize
from sessions.visit_store import VisitStore

Status = Literal["recovered", "seal_completed", "set_aside", "busy", "failed"]


@dataclass
class RecoverOutcome:
    """What happened to one open visit. `ok` for `recovered` and `seal_completed`."""

    key: str
    status: Status
    reason: str = ""
    sealed: SealedVisit | None = None
    aside: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("recovered", "seal_completed")

    @property
    def journal_damage(self) -> dict[str, Any]:
        """The visit's `journal_damage` QC entry ({} if none was recorded)."""
        return dict(self.sealed.qc.get("journal_damage") or {}) if self.sealed is not None else {}

    def damage_line(self) -> str:
        """'' for a clean journal, else one line flagging the visit's QC as failed and saying what was lost."""
        d = self.journal_damage
        if not d or d.get("ok", True):
            return ""
        return "JOURNAL DAMAGE, QC FAILED: " + "; ".join(damage_items(d))

    def line(self) -> str:
        if self.sealed is not None:
            verb = "recovered" if self.status == "recovered" else "seal completed"
            return f"{verb}: {self.sealed.path}  sha256 {self.sealed.sha256}"
        if self.status == "set_aside":
            return f"set aside: {self.key} -> {self.aside}: {self.reason}"
        return f"{'busy' if self.status == 'busy' else 'failed'}: {self.key}: {self.reason}"


class _SetAside(Exception):
    """This visit can never be recovered (the reason is the message): move it aside."""


def is_no_space(exc: BaseException) -> bool:
    """A full disk (or quota) anywhere in the chain of causes, including HDF5's own messages."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(e) or str(e).startswith("no space left"):
            return True
        e = e.__cause__ or e.__context__
    return False


def _one_line(exc: BaseException, store: VisitStore, key: str) -> str:
    if is_no_space(exc):
        return (f"no space left on device ({type(exc).__name__}); free space and run recover again: "
                f"the journal is kept in {store.open_dir(key)}")
    text = (str(exc).splitlines() or [""])[0][:400]
    return f"{type(exc).__name__}: {text}; the journal is kept in {store.open_dir(key)}"


# -- an interrupted seal ---------------------------------------------------------------------------------------
def _finish_interrupted_seal(store: VisitStore, key: str) -> SealedVisit:
    """The file was linked into place but the process ended before some later step: finish every one of
    them (read-only, drop the partial's second link, manifest line, journal archive), rewriting nothing."""
    log = get_logger("recover", visit=key)
    final = store.final_path(key)
    report = verify_file(final)
    if not report.ok:
        raise SealError(f"{final} exists but fails verification ({'; '.join(report.problems)}); "
                        f"the journal is kept in {store.open_dir(key)}")
    try:
        if final.stat().st_mode & 0o777 != READ_ONLY:
            os.chmod(final, READ_ONLY)
            log.info("seal.mode_fixed", path=str(final))
        partial = store.partial_path(key)
        if partial.exists():
            if os.path.samefile(partial, final):
                os.unlink(partial)  # the second link of the sealed file: it must not end up in the archive
                log.info("seal.partial_link_removed", path=str(partial))
            else:
                aside = partial.with_name(partial.name + f".unsealed-{utc_iso().replace(':', '')}")
                partial.rename(aside)
            fsync_dir(partial.parent)
        fsync_dir(final.parent)
        digest = sha256_file(final)
        listed = read_manifest(store.data_dir).get(final.name)
        if listed is None:
            append_manifest(store.data_dir, final, digest)
        elif listed != digest:
            raise SealError(f"{final} differs from its {MANIFEST_NAME} line; the journal is kept in "
                            f"{store.open_dir(key)}")
        with VisitFile.open(final) as vf:  # verified above: sealed, named for its visit, schema v2
            qc = vf.qc
        archive = store.archive(key)
    except VisitFileError as exc:
        raise SealError(f"{exc}; the journal is kept in {store.open_dir(key)}") from exc
    except OSError as exc:
        raise SealError(seal_os_error(exc, final)) from exc
    return SealedVisit(path=final, sha256=digest, report=report, qc=qc, journal_archive=archive)


# -- one visit -------------------------------------------------------------------------------------------------
def _nothing_recorded(jdir: Path) -> str | None:
    """Why there is nothing at all to build, or None if the journal holds at least one byte of a record."""
    if not jdir.is_dir():
        return "nothing was recorded: no journal (the recorder ended right after claiming the visit)"
    for seg in jdir.rglob("seg-*.amj"):
        if seg.stat().st_size > 0:
            return None
    return "nothing was recorded: the journal holds no record (the recorder ended before its first record)"


def _check_journal(compactor: Compactor, store: VisitStore, key: str) -> None:
    """Read-only: the journal must name a visit, and this one. Raises `_SetAside` otherwise."""
    jdir = store.journal_dir(key)
    try:
        compactor.load_visit(final=True)
    except JournalUnusable as exc:
        raise _SetAside(str(exc)) from None
    attrs = compactor.visit_attrs
    if not attrs:
        raise _SetAside(compactor.unusable_reason())
    named = visit_key(str(attrs.get("subject")), str(attrs.get("visit")))
    if named != key:
        raise _SetAside(f"the journal in {jdir} records visit {named}, not {key}: it is not sealed under "
                        "either name")


def _journal_recovery(jdir: Path, utc: str) -> None:
    """Add the `visit.recovered` event and the `recovered` record (new segments: never after a torn tail)."""
    with Journal(jdir) as journal:
        ev = Event(t_lsl=local_clock(), utc=utc, kind="operator", name=RECOVERED_EVENT,
                   payload={"reason": "visit left open (process ended before sealing)"})
        journal.log("events").append(encode_event(ev))
        journal.log("meta").append(encode_meta(RecoveredRecord(utc=utc, reason=ev.payload["reason"])))


def _rebuild(store: VisitStore, key: str) -> SealedVisit:
    log = get_logger("recover", visit=key)
    jdir = store.journal_dir(key)
    nothing = _nothing_recorded(jdir)
    if nothing:
        raise _SetAside(nothing)
    try:  # a recorder of an older layout (no visit.lock) may still have its journal open
        acquire(jdir / LOCK_FILE, what=f"journal of visit {key}", create=False).release()
    except FileNotFoundError:
        pass
    partial = store.partial_path(key)
    compactor = Compactor(jdir, partial)
    _check_journal(compactor, store, key)
    # from here on the visit is known to be recoverable: the folder may be written to
    if partial.exists():
        aside = partial.with_name(partial.name + f".crashed-{utc_iso().replace(':', '')}")
        partial.rename(aside)
        log.info("partial.moved_aside", path=str(aside))
    try:
        compactor.run_once(final=True)
        # the latest of close record, last event and last local sample (a crashed visit's last event is often
        # a clock.pair, up to 60 s before its last sample); never the recovery's time
        closed = compactor.recording_end_utc() or str(compactor.visit_attrs.get("started_utc"))
        now = utc_iso()
        _journal_recovery(jdir, now)
        compactor.run_once(final=True)  # the recovery's own event and record
        compactor.finish({"closed_utc": closed, "state": "recovered", "recovered_utc": now})
    except BaseException:
        compactor.abort()
        partial.unlink(missing_ok=True)  # ours, half built: the next run rebuilds it (and a full disk gets room)
        raise
    sealed = finalize(store, key, compactor)
    log.info("visit.recovered", path=str(sealed.path), closed_utc=closed, recovered_utc=now,
             journal_damage=compactor.journal_damage())
    return sealed


def recover_visit(store: VisitStore, key: str) -> RecoverOutcome:
    """Recover one open visit; never raises for a problem of this visit (the caller holds the data-dir lock)."""
    log = get_logger("recover", visit=key)
    try:
        vlock = store.lock_visit(key)
    except LockBusy:
        reason = f"still being recorded by {store.visit_holder(key)}; left alone"
        log.warning("visit.recover_skipped", reason=reason)
        return RecoverOutcome(key, "busy", reason)
    except OSError as exc:
        return RecoverOutcome(key, "failed", _one_line(exc, store, key))
    try:
        if store.final_path(key).exists():
            sealed = _finish_interrupted_seal(store, key)
            log.info("visit.seal_completed", path=str(sealed.path))
            return RecoverOutcome(key, "seal_completed", sealed=sealed)
        return RecoverOutcome(key, "recovered", sealed=_rebuild(store, key))
    except _SetAside as exc:
        reason = str(exc)
        try:
            aside = store.set_aside(key, reason)
        except OSError as exc2:
            return RecoverOutcome(key, "failed", f"{reason}; moving it aside failed: {exc2}")
        log.error("visit.set_aside", reason=reason, path=str(aside))
        return RecoverOutcome(key, "set_aside", reason, aside=aside)
    except LockBusy as exc:
        return RecoverOutcome(key, "busy", f"{exc}; left alone")
    except Exception as exc:  # noqa: BLE001 - one visit's failure is its own line; the others are recovered
        reason = _one_line(exc, store, key)
        log.error("visit.recover_failed", reason=reason)
        log.debug("visit.recover_failed_trace", exc_info=True)
        return RecoverOutcome(key, "failed", reason)
    finally:
        if vlock is not None:
            vlock.release()


def recover_all(data_dir: Path) -> list[RecoverOutcome]:
    """Recover every open visit of `data_dir` under its lock. Raises `DataDirBusy` (naming the holder) if another
    `recover` runs, and an OSError (ENOSPC...) only if the lock file itself cannot be created."""
    store = VisitStore(data_dir)
    with store.lock_data_dir():
        return [recover_visit(store, key) for key in store.open_keys()]
