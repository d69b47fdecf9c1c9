"""The machine's daily audit logs: `DATA_DIR/audit/YYYY-MM-DD.jsonl`, one hash chain per day, chained across days.

```
DATA_DIR/audit/.lock              flock'ed by whichever process appends (every writer of this machine)
DATA_DIR/audit/2026-11-25.jsonl   one canonical entry per line (`entry.py`), chain `day/2026-11-25`
DATA_DIR/audit/2026-11-25.head    {"hash": ..., "log": ..., "seq": ...}: the last entry written, rewritten after each
```

- Append-only, one `os.write` of the whole line (O_APPEND), fsynced before `append` returns, the directory too
  when the file is new. Every writer takes the exclusive flock on `.lock` and reads the log's last entry from the
  file itself (never from memory: another process may have appended since), so writers in several processes (the
  service, a CLI `calibrate`, a second visit) make one chain.
- The chain continues across days: a day's first entry is a genesis whose `prev` is the hash of the last entry of
  the latest earlier log (zeros for the very first), and whose payload names it (`previous`: log, seq, hash). A
  whole day removed, or a day's last entries removed, shows when the logs are verified together. The day of an
  entry is the date of its `utc` (an entry and its visit twin go to the day they happened), except that nothing is
  appended to a day once a later day's log exists (a writer that waited for the lock over midnight).
- Why a head file: a hash chain alone cannot show that its last entries were cut off (what is left is a valid
  chain). The head names the last entry written; it is written after the entry, so it lags the log by at most one
  entry after a crash, never leads it. It does not stop someone who rewrites both (nothing without a key does);
  the sealed visit files, whose entries have twins here, and the next day's genesis anchor the log further.
- A torn last line (a power cut in the middle of a write) is terminated with a newline and left in place, as the
  evidence it is (`audit verify` reports it as truncated); the chain goes on from the last whole entry. A log whose
  last whole entry cannot be read is not appended to (`AuditWriteError`): run `amuse-acq audit verify` on it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from acquisition.journal.layout import fsync_dir, makedirs_durable
from acquisition.log import get_logger
from sessions.audit.entry import (FORMAT, GENESIS, ZERO_HASH, AuditEntry, AuditLineError, canonical, chain_of_day,
                                  parse_line, seal_entry)
from sessions.audit.errors import AuditWriteError

#: the daily logs' folder, under DATA_DIR
AUDIT_DIR = "audit"
LOG_SUFFIX = ".jsonl"
HEAD_SUFFIX = ".head"
LOCK_NAME = ".lock"
#: the daily logs of a folder (a name is the UTC date of its entries)
LOG_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]" + LOG_SUFFIX
#: bytes read back from the end of a log to find its last entry (an entry is at most ~6 KiB: `payload_rules`)
_TAIL_BYTES = 64 * 1024

#: builds the entry to append, given (seq, prev, chain) in the chain it goes to
MakeEntry = Callable[[int, str, str], AuditEntry]


class Head(BaseModel):
    """The `.head` file of a daily log: its last entry written."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    log: str
    seq: int = Field(ge=0)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class Tail(BaseModel):
    """The end of a log as the writer found it."""

    last: AuditEntry | None = None
    torn_bytes: int = 0  # bytes after the last newline (a cut line)


def log_name(day: str) -> str:
    return f"{day}{LOG_SUFFIX}"


def head_path(log: Path) -> Path:
    return log.with_suffix(HEAD_SUFFIX)


def read_head(log: Path) -> Head | None:
    """The head of `log`, None if it has none. Raises `ValueError` if it is not a head."""
    try:
        text = head_path(log).read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ValueError("not ASCII") from None
    return Head.model_validate_json(text)


def read_tail(log: Path) -> Tail:
    """The last whole entry of `log` (None for a missing or empty log) and the size of a torn last line. Raises
    `AuditLineError` if the last whole line is not an intact entry."""
    try:
        fd = os.open(log, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return Tail()
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - _TAIL_BYTES)
        buf = os.pread(fd, size - start, start)
    finally:
        os.close(fd)
    cut = buf.rfind(b"\n")
    torn = len(buf) - cut - 1 if cut >= 0 else (len(buf) if start == 0 else 0)
    if cut < 0:
        if start > 0:
            raise AuditLineError(f"no line end in its last {_TAIL_BYTES} bytes")
        return Tail(torn_bytes=torn)
    body = buf[:cut]
    nl = body.rfind(b"\n")
    if nl < 0 and start > 0:
        raise AuditLineError(f"its last line is longer than {_TAIL_BYTES} bytes")
    last = body[nl + 1:]
    try:
        text = last.decode("ascii")
    except UnicodeDecodeError:
        raise AuditLineError("its last entry is not ASCII") from None
    return Tail(last=parse_line(text), torn_bytes=torn)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while len(view):
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.ENOSPC, "short write made no progress")
        view = view[n:]


class DailyLog:
    """Appends to the daily logs of one folder (`DATA_DIR/audit`), under its flock."""

    def __init__(self, directory: Path, *, uid: int, lock_timeout_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.directory = Path(directory)
        self._uid = uid  # written in a genesis this writer makes
        self._lock_timeout_s = lock_timeout_s
        self._sleep = sleep
        self._log = get_logger("audit", directory=str(self.directory))

    def path(self, day: str) -> Path:
        return self.directory / log_name(day)

    def append(self, day: str, make: MakeEntry, *, utc: str) -> AuditEntry:
        """Append the entry `make(seq, prev, chain)` builds to the log of `day` (a genesis first if the log is new:
        its time is `utc`); fsynced, and the head rewritten, before it returns. Raises `AuditWriteError`."""
        try:
            makedirs_durable(self.directory)
            lock_fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise AuditWriteError(f"audit log folder {self.directory} cannot be used: {exc.strerror or exc}") from None
        try:
            self._lock(lock_fd)
            # a later day's log begun while this writer waited for the lock (midnight): the entry goes there, so no
            # log grows after the next day's genesis took its last entry
            later = [p.stem for p in self.directory.glob(LOG_GLOB) if p.stem > day]
            day = max([day, *later])
            return self._append_locked(self.path(day), day, make, utc)
        finally:
            os.close(lock_fd)  # releases the flock

    def _lock(self, fd: int) -> None:
        waited, step = 0.0, 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if waited >= self._lock_timeout_s:
                    raise AuditWriteError(f"audit log folder {self.directory} stayed locked by another process for "
                                          f"{self._lock_timeout_s:g} s") from None
                self._sleep(step)
                waited += step

    def _append_locked(self, log: Path, day: str, make: MakeEntry, utc: str) -> AuditEntry:
        try:
            tail = read_tail(log)
        except (AuditLineError, OSError) as exc:
            raise AuditWriteError(f"audit log {log.name}: its last entry cannot be read ({exc}); nothing appended: "
                                  "run `amuse-acq audit verify` on it") from None
        chain = chain_of_day(day)
        entries: list[AuditEntry] = []
        last = tail.last
        if last is None:
            last = self._genesis(day, chain, utc)
            entries.append(last)
        entry = make(last.seq + 1, last.hash, chain)
        entries.append(entry)
        data = ("\n" if tail.torn_bytes else "") + "".join(e.line() + "\n" for e in entries)
        if tail.torn_bytes:
            self._log.error("audit.torn_tail", log=log.name, bytes=tail.torn_bytes)
        try:
            new = not log.exists()
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            try:
                _write_all(fd, data.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                fsync_dir(self.directory)
            self._write_head(log, entry)
        except OSError as exc:
            raise AuditWriteError(f"audit log {log.name}: writing entry seq {entry.seq} failed: "
                                  f"{exc.strerror or exc}") from None
        return entry

    def _genesis(self, day: str, chain: str, utc: str) -> AuditEntry:
        """The first entry of a day: it continues the latest earlier log (`previous`), or nothing."""
        earlier = sorted(p for p in self.directory.glob(LOG_GLOB) if p.stem < day)
        previous: dict[str, Any] | None = None
        prev = ZERO_HASH
        if earlier:
            try:
                before = read_tail(earlier[-1]).last
            except (AuditLineError, OSError) as exc:
                raise AuditWriteError(f"audit log {earlier[-1].name}: its last entry cannot be read ({exc}), so "
                                      f"{log_name(day)} cannot continue its chain: run `amuse-acq audit verify`") \
                    from None
            if before is not None:
                previous = {"log": earlier[-1].name, "seq": before.seq, "hash": before.hash}
                prev = before.hash
        return seal_entry(seq=0, utc=utc, t_lsl=None, operator="system", uid=self._uid, action=GENESIS,
                          payload={"format": FORMAT, "previous": previous}, chain=chain, prev=prev)

    def _write_head(self, log: Path, entry: AuditEntry) -> None:
        head = head_path(log)
        tmp = head.with_name(f".{head.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
        try:
            _write_all(fd, canonical({"log": log.name, "seq": entry.seq, "hash": entry.hash}).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, head)
        fsync_dir(self.directory)
