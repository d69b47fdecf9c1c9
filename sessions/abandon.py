"""Set an open (unsealed) visit aside, explicitly and on the record, so that its visit code can be recorded again.

An open visit blocks its subject and visit code (a visit is never recorded twice). When the open recording is a
mistake (wrong subject, a test run, a journal nobody can recover), the only way to free the code is this explicit
action: `amuse-acq abandon DATA_DIR --subject ID --visit CODE --operator LOGIN --reason TEXT`. Nothing is deleted:

```
DATA_DIR/.open/<key>/                    ->  DATA_DIR/.abandoned/<key>.<utc>/   (moved whole, one rename)
DATA_DIR/.abandoned/<key>.<utc>/ABANDONED.json   who, when, why, what the folder held
DATA_DIR/ABANDONED.log                   one JSON line per abandoned visit (the audit trail, append-only)
```

A sealed visit is never abandoned (refused), nor one still being recorded (its `visit.lock` or journal lock held);
the whole action runs under the data-dir lock, so it never races `recover` or a claim of the same visit.
Order: rename (atomic), then the record inside, then the audit line, each fsynced; a crash between leaves the
folder under `.abandoned/` (never back in `.open/`), its missing record showing what happened.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from acquisition import __version__
from acquisition.clock import utc_iso
from acquisition.journal import decode_json, scan_log
from acquisition.journal.layout import LOCK_FILE, fsync_dir, makedirs_durable
from acquisition.log import get_logger
from sessions.lockfile import LockBusy
from sessions.subject import InvalidIdentifier, VisitIdentity
from sessions.visit_store import CLAIM_WAIT_S, VisitStore

ABANDONED_DIR = ".abandoned"
ABANDONED_LOG = "ABANDONED.log"
RECORD_NAME = "ABANDONED.json"
_REASON_MAX = 500


class AbandonRefused(Exception):
    """The visit cannot be abandoned (sealed, not open, in use); `code` is the CLI exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class HeldLog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    segments: int
    bytes: int


class AbandonRecord(BaseModel):
    """What `ABANDONED.json` and the `ABANDONED.log` line hold (the log line omits `held`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    subject: str
    visit: str
    operator: str
    os_user: str
    reason: str
    abandoned_utc: str
    moved_from: str
    moved_to: str
    software_version: str
    held: dict[str, Any]


def validate_reason(value: object) -> str:
    """A reason is one printable line of 3-500 characters (it goes into an audit log read by people)."""
    if not isinstance(value, str) or len(value.strip()) < 3:
        raise InvalidIdentifier("reason must say why the visit is abandoned (at least 3 characters)")
    if len(value) > _REASON_MAX:
        raise InvalidIdentifier(f"reason is {len(value)} characters long; at most {_REASON_MAX} allowed")
    if not value.isprintable():
        raise InvalidIdentifier(f"reason {value!r} contains a newline or a control character")
    return value.strip()


def _inventory(open_dir: Path, key: str) -> dict[str, Any]:
    """What the open folder held: per journal log its segments and bytes, the partial file, the visit record."""
    logs: dict[str, HeldLog] = {}
    jdir = open_dir / "journal"
    total = 0
    n_files = 0
    for root, _dirs, files in os.walk(open_dir):
        for name in files:
            n_files += 1
            total += (Path(root) / name).lstat().st_size
    if jdir.is_dir():
        for seg_dir in sorted({p.parent for p in jdir.rglob("seg-*.amj")}):
            segs = sorted(seg_dir.glob("seg-*.amj"))
            logs[seg_dir.relative_to(jdir).as_posix()] = HeldLog(
                segments=len(segs), bytes=sum(s.lstat().st_size for s in segs))
    partial = open_dir / f"{key}.h5.partial"
    visit: dict[str, Any] = {}
    meta_problem = ""
    try:
        records = scan_log(jdir / "meta", final=True).records if jdir.is_dir() else []
        first = decode_json(records[0]) if records else None
        if isinstance(first, dict) and first.get("type") == "visit" and isinstance(first.get("attrs"), dict):
            a = first["attrs"]
            visit = {k: a.get(k) for k in ("started_utc", "operator", "simulated", "software_version")}
        else:
            meta_problem = "no visit record in the journal"
    except Exception as exc:  # a damaged journal is one reason to abandon it: describe, never fail here
        meta_problem = f"journal meta unreadable: {type(exc).__name__}: {exc}"[:300]
    return {
        "files": n_files,
        "bytes": total,
        "journal_logs": {k: v.model_dump() for k, v in logs.items()},
        "streams": sorted(k.removeprefix("streams/") for k in logs if k.startswith("streams/")),
        "partial_file_bytes": partial.stat().st_size if partial.exists() else 0,
        "visit_record": visit,
        "visit_record_problem": meta_problem,
    }


def _write_durable(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o440)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    fsync_dir(path.parent)


def _append_audit(data_dir: Path, line: str) -> None:
    path = data_dir / ABANDONED_LOG
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(data_dir)


def _lock_journal(open_dir: Path, key: str) -> int | None:
    """flock the journal's lock file (as a recorder or `recover` would), or refuse if someone holds it."""
    lock = open_dir / "journal" / LOCK_FILE
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise AbandonRefused(f"visit {key} is being recorded or recovered right now (its journal {lock} is "
                             "locked); stop that process first", code=1) from None
    return fd


def abandon_visit(data_dir: Path, identity: VisitIdentity, reason: str) -> AbandonRecord:
    """Move the open visit of `identity` aside with its record and an audit line; refuse a sealed or absent one.

    Under the data-dir lock (no `recover` runs meanwhile, no claim of the same key) and holding the visit's own
    locks (`visit.lock` of its recorder, the journal's lock): a visit being recorded is never moved.
    """
    reason = validate_reason(reason)
    data_dir = Path(data_dir)
    store = VisitStore(data_dir)
    key = identity.key
    with store.lock_data_dir(wait_s=CLAIM_WAIT_S):
        final = store.final_path(key)
        if final.exists() or final.is_symlink():
            raise AbandonRefused(f"visit {key} is sealed in {final}; a sealed visit is never abandoned")
        open_dir = store.open_dir(key)
        if not open_dir.is_dir() or open_dir.is_symlink():
            raise AbandonRefused(f"visit {key} has no open recording in {open_dir.parent}")
        try:
            visit_lock = store.lock_visit(key)
        except LockBusy as exc:
            raise AbandonRefused(f"visit {key} is being recorded right now: {exc}; stop that process first",
                                 code=1) from None
        lock_fd = None
        try:
            lock_fd = _lock_journal(open_dir, key)
            held = _inventory(open_dir, key)
            utc = utc_iso()
            root = data_dir / ABANDONED_DIR
            makedirs_durable(root)
            stamp = utc.replace(":", "").replace("-", "")
            dst = root / f"{key}.{stamp}"
            n = 1
            while dst.exists():
                n += 1
                dst = root / f"{key}.{stamp}.{n}"
            os.rename(open_dir, dst)
            fsync_dir(root)
            fsync_dir(open_dir.parent)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
            if visit_lock is not None:
                visit_lock.release()
        rec = AbandonRecord(
            key=key, subject=identity.subject, visit=identity.visit.value, operator=identity.operator,
            os_user=_os_user(), reason=reason, abandoned_utc=utc,
            moved_from=open_dir.relative_to(data_dir).as_posix(), moved_to=dst.relative_to(data_dir).as_posix(),
            software_version=__version__, held=held,
        )
        _write_durable(dst / RECORD_NAME, json.dumps(rec.model_dump(), indent=2, sort_keys=True) + "\n")
        line = rec.model_dump(exclude={"held"})
        line["held_bytes"] = held["bytes"]
        line["held_streams"] = held["streams"]
        _append_audit(data_dir, json.dumps(line, sort_keys=True))
        get_logger("abandon", visit=key).warning("visit.abandoned", operator=identity.operator, moved_to=str(dst),
                                                 bytes=held["bytes"])
        return rec


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid={os.getuid()}"
