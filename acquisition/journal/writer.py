"""`Journal`: a directory of named append-only logs of framed records, durable within `fsync_interval_s`.

- `append()` hands the framed record to the kernel with unbuffered `os.writev`/`os.write` before it returns, so a
  process kill loses nothing `append()` returned for; a background thread fsyncs every appended byte within
  `fsync_interval_s` even if no further append comes (power loss loses at most that window).
- Each log is a directory of segments `seg-000000.amj`, `seg-000001.amj`...; a new segment starts when the next
  record would push the current one past `segment_bytes` (the old one is fsynced, the new file and its directory
  are fsynced). A segment only exceeds `segment_bytes` when it holds one single larger record.
- Opening a journal directory again (after a crash) starts a NEW segment in every log it opens, so it never
  appends after a possibly torn tail. A write error (ENOSPC, EIO) raises `JournalError` and the next append
  starts a new segment for the same reason. An fsync error is fatal for the whole journal: the kernel may have
  dropped the dirty pages, so every later call raises `JournalError` instead of pretending.
- One `Journal` per directory at a time (flock on `journal.lock`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

from acquisition.journal.errors import JournalError
from acquisition.journal.framing import HEADER_BYTES, MAX_RECORD_BYTES, frame_header
from acquisition.journal.layout import LOCK_FILE, fsync_dir, list_segments, makedirs_durable, segment_name, validate_log_name
from acquisition.log import get_logger

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024

_log = get_logger("journal")


def _write_all(fd: int, header: bytes, payload: bytes | bytearray | memoryview) -> None:
    """Write header + payload with as few syscalls as possible; loop on short writes."""
    total = len(header) + len(payload)
    n = os.writev(fd, [header, payload])
    if n == total:
        return
    rest = memoryview(header + bytes(payload))[n:]
    while len(rest):
        k = os.write(fd, rest)
        if k <= 0:
            raise OSError(errno.ENOSPC, "short write made no progress")
        rest = rest[k:]


def _fsync(fd: int) -> None:
    os.fsync(fd)


class LogWriter:
    """Appends framed records to one log directory. Obtain it from `Journal.log(name)`."""

    def __init__(self, journal: "Journal", name: str, directory: Path, *, segment_bytes: int) -> None:
        self._journal = journal
        self.name = name
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        existing = list_segments(directory)
        self._seg_index = existing[-1][0] if existing else -1
        self._seg_size = 0
        self._need_new_segment = True
        self._closed = False
        # counters
        self._records = 0
        self._bytes = 0
        self._segments_created = 0
        self._write_errors = 0
        self._fsyncs = 0
        self._last_fsync: float | None = None
        # durability bookkeeping: bytes handed to the kernel vs bytes known fsynced
        self._appended = 0
        self._synced = 0
        self._dirty_since: float | None = None
        with self._lock:
            self._roll()
        if existing:
            _log.info("journal.log_reopened", log=name, previous_segments=len(existing), segment=self.segment_path.name)

    # -- public ---------------------------------------------------------------------------------------------
    @property
    def segment_path(self) -> Path:
        """The segment file currently appended to."""
        return self.directory / segment_name(self._seg_index)

    def append(self, payload: bytes | bytearray | memoryview) -> None:
        """Append one record. When this returns the bytes are in the kernel (safe from a process kill) and will
        be fsynced within the journal's `fsync_interval_s`. Raises `JournalError` if they could not be written."""
        n = len(payload)
        if n > MAX_RECORD_BYTES:
            raise JournalError(f"log {self.name!r}: record of {n} bytes exceeds MAX_RECORD_BYTES={MAX_RECORD_BYTES}")
        header = frame_header(payload)
        rec = HEADER_BYTES + n
        self._journal._check_ok()
        with self._lock:
            if self._closed:
                raise JournalError(f"log {self.name!r} is closed")
            if self._need_new_segment or (self._seg_size > 0 and self._seg_size + rec > self._segment_bytes):
                self._roll()
            assert self._fd is not None
            try:
                _write_all(self._fd, header, payload)
            except OSError as e:
                # part of the record may be on disk: never append after it, start a new segment next time
                self._need_new_segment = True
                self._write_errors += 1
                _log.error("journal.write_failed", log=self.name, segment=self.segment_path.name, errno=e.errno, error=str(e))
                raise JournalError(f"log {self.name!r}: writing {rec} bytes to {self.segment_path} failed: {e}") from e
            self._seg_size += rec
            self._records += 1
            self._bytes += rec
            was_clean = self._appended == self._synced
            self._appended += rec
            if was_clean:
                self._dirty_since = time.monotonic()
        if was_clean:
            self._journal._wake()

    def flush(self) -> None:
        """fsync now everything appended so far."""
        self._journal._check_ok()
        self._sync()

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "records": self._records,
                "bytes": self._bytes,
                "segments_created": self._segments_created,
                "write_errors": self._write_errors,
                "fsyncs": self._fsyncs,
                "last_fsync": self._last_fsync,
                "unsynced_bytes": self._appended - self._synced,
            }

    # -- internals ------------------------------------------------------------------------------------------
    def _roll(self) -> None:
        """Close (after fsync) the current segment and open the next one. Caller holds the lock."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                _fsync(fd)
            except OSError as e:
                os.close(fd)
                err = JournalError(f"log {self.name!r}: fsync of {self.segment_path} failed: {e}")
                self._journal._fail(err)
                raise err from e
            os.close(fd)
            self._synced = self._appended
            self._dirty_since = None
            self._fsyncs += 1
            self._last_fsync = time.monotonic()
        nxt = self._seg_index + 1
        path = self.directory / segment_name(nxt)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o640)
        except OSError as e:
            raise JournalError(f"log {self.name!r}: cannot create segment {path}: {e}") from e
        try:
            fsync_dir(self.directory)
        except OSError as e:
            os.close(fd)
            raise JournalError(f"log {self.name!r}: fsync of directory {self.directory} failed: {e}") from e
        self._fd = fd
        self._seg_index = nxt
        self._seg_size = 0
        self._need_new_segment = False
        self._segments_created += 1
        _log.debug("journal.segment_started", log=self.name, segment=path.name)

    def _sync(self) -> None:
        """fsync what has been appended so far; the append path is blocked only for an `os.dup`."""
        with self._lock:
            if self._fd is None or self._appended == self._synced:
                return
            target = self._appended
            t0 = time.monotonic()
            path = self.segment_path
            try:
                fd = os.dup(self._fd)
            except OSError as e:
                err = JournalError(f"log {self.name!r}: cannot dup the fd of {path} to fsync it: {e}")
                self._journal._fail(err)
                raise err from e
        try:
            _fsync(fd)
        except OSError as e:
            err = JournalError(f"log {self.name!r}: fsync of {path} failed: {e}")
            self._journal._fail(err)
            raise err from e
        finally:
            os.close(fd)
        with self._lock:
            if target > self._synced:
                self._synced = target
            self._fsyncs += 1
            self._last_fsync = time.monotonic()
            self._dirty_since = t0 if self._appended > self._synced else None

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                if self._appended > self._synced:
                    _fsync(fd)
                    self._synced = self._appended
                    self._fsyncs += 1
                    self._last_fsync = time.monotonic()
                    self._dirty_since = None
            except OSError as e:
                err = JournalError(f"log {self.name!r}: fsync of {self.segment_path} at close failed: {e}")
                self._journal._fail(err)
                raise err from e
            finally:
                os.close(fd)


class Journal:
    """A directory of named append-only logs (see module doc). Use as a context manager or call `close()`."""

    def __init__(
        self,
        root: Path,
        *,
        fsync_interval_s: float = 1.0,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if not (0.0 < fsync_interval_s <= 60.0):
            raise ValueError(f"fsync_interval_s must be in (0, 60], got {fsync_interval_s}")
        if segment_bytes < 4096:
            raise ValueError(f"segment_bytes must be >= 4096, got {segment_bytes}")
        self.root = Path(root)
        self.fsync_interval_s = float(fsync_interval_s)
        self.segment_bytes = int(segment_bytes)
        self._logs: dict[str, LogWriter] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._stop = False
        self._closed = False
        self._error: JournalError | None = None
        try:
            makedirs_durable(self.root)
            self._lock_fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as e:
            raise JournalError(f"cannot open journal directory {self.root}: {e}") from e
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self._lock_fd)
            raise JournalError(f"journal {self.root} is already open (locked by another Journal or process)") from e
        self._thread = threading.Thread(target=self._run, name=f"journal-fsync:{self.root.name}", daemon=True)
        self._thread.start()
        _log.info("journal.opened", root=str(self.root), fsync_interval_s=self.fsync_interval_s, segment_bytes=self.segment_bytes)

    # -- public ---------------------------------------------------------------------------------------------
    def log(self, name: str) -> LogWriter:
        """The writer of log `name` (created on first use; the same object afterwards)."""
        validate_log_name(name)
        self._check_ok()
        with self._lock:
            if self._closed:
                raise JournalError(f"journal {self.root} is closed")
            w = self._logs.get(name)
            if w is None:
                directory = self.root / name
                try:
                    makedirs_durable(directory)
                except OSError as e:
                    raise JournalError(f"cannot create log directory {directory}: {e}") from e
                w = LogWriter(self, name, directory, segment_bytes=self.segment_bytes)
                self._logs[name] = w
            return w

    @property
    def error(self) -> JournalError | None:
        """The fatal error that stopped the journal, if any."""
        return self._error

    def flush(self) -> None:
        """fsync every log now."""
        self._check_ok()
        for w in self._writers():
            w._sync()

    def close(self) -> None:
        """Stop the fsync thread, fsync and close every log, release the lock. Idempotent. Raises `JournalError`
        if anything could not be made durable (including an earlier background fsync failure)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()
        first: JournalError | None = None
        for w in self._writers():
            try:
                w._close()
            except JournalError as e:
                first = first or e
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        _log.info("journal.closed", root=str(self.root), **{k: v for k, v in self.counters().items() if k != "logs"})
        if first is not None:
            raise first
        if self._error is not None:
            raise JournalError(f"journal {self.root} failed earlier: {self._error}") from self._error

    def counters(self) -> dict[str, Any]:
        """Totals over all logs plus per-log counters under 'logs'."""
        per = {w.name: w.counters() for w in self._writers()}
        lasts = [c["last_fsync"] for c in per.values() if c["last_fsync"] is not None]
        return {
            "records": sum(c["records"] for c in per.values()),
            "bytes": sum(c["bytes"] for c in per.values()),
            "fsyncs": sum(c["fsyncs"] for c in per.values()),
            "write_errors": sum(c["write_errors"] for c in per.values()),
            "unsynced_bytes": sum(c["unsynced_bytes"] for c in per.values()),
            "last_fsync": max(lasts) if lasts else None,
            "failed": self._error is not None,
            "logs": per,
        }

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------------
    def _writers(self) -> list[LogWriter]:
        with self._lock:
            return list(self._logs.values())

    def _check_ok(self) -> None:
        if self._error is not None:
            raise JournalError(f"journal {self.root} has failed and accepts no more writes: {self._error}")

    def _fail(self, err: JournalError) -> None:
        if self._error is None:
            self._error = err
            _log.error("journal.fsync_failed", root=str(self.root), error=str(err))

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # the durability promise is gone: make every later call say so
            _log.exception("journal.fsync_thread_crashed", root=str(self.root))
            self._fail(JournalError(f"journal {self.root}: fsync thread crashed: {e!r}"))

    def _loop(self) -> None:
        """fsync each dirty log at the latest `fsync_interval_s / 2` after its first unsynced append, leaving
        the other half of the interval for the fsync itself."""
        half = self.fsync_interval_s / 2.0
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    now = time.monotonic()
                    bases = [b for w in self._writers() if (b := w._dirty_since) is not None]
                    if bases and min(bases) + half <= now:
                        break
                    timeout = (min(bases) + half - now) if bases else half
                    self._cond.wait(timeout=max(timeout, 0.001))
            if self._error is not None:
                # nothing more can be promised; appends and flush raise. Idle until closed.
                with self._cond:
                    while not self._stop:
                        self._cond.wait()
                return
            now = time.monotonic()
            for w in self._writers():
                b = w._dirty_since
                if b is not None and b + half <= now + half / 2:
                    try:
                        w._sync()
                    except JournalError:
                        break  # recorded by _fail; loop exits on the next turn
