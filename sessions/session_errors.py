"""The session manager's errors: a refused operation, a visit stopped by its journal, one that could not open.

Kept apart from the manager so the CLI and the service can name them without the machinery; `sessions.manager`
re-exports both.
"""

from __future__ import annotations

import errno
from pathlib import Path


class SessionError(RuntimeError):
    """A session operation was refused (wrong state, production mode, duplicate source...)."""


class VisitFailed(SessionError):
    """The visit stopped because its journal could not store what it was given; raised by every later call.

    Why one line: a full disk used to end a demo in reader-thread tracebacks and a minute later an uncaught
    `JournalError`. `str()` is what the operator needs: what failed, up to when the record is kept, where, what
    to do."""

    def __init__(self, key: str, reason: str, *, recorded_until_utc: str, journal_dir: Path, no_space: bool) -> None:
        self.key = key
        self.reason = reason
        self.recorded_until_utc = recorded_until_utc
        self.journal_dir = journal_dir
        then = "when space is free" if no_space else "once the disk is fixed"
        super().__init__(f"visit {key} failed: {reason}; what was recorded up to {recorded_until_utc} is in the "
                         f"journal at {journal_dir}; run amuse-acq recover {then}")


def _oserror_in(exc: BaseException) -> OSError | None:
    """The first OSError with an errno in `exc` and its causes."""
    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, OSError) and e.errno is not None:
            return e
        e = e.__cause__
    return None


def error_summary(exc: BaseException) -> str:
    """What of an error may go into the record: its type, and its errno name and strerror if it has one.

    Why not `repr(exc)`: an error's text quotes paths (a journal segment under the exam-room PC's data dir, a
    vendor export named after the patient). The full text goes to the log at DEBUG only.
    'OSError [EIO] Input/output error', 'JournalError [ENOSPC] No space left on device', 'RuntimeError'."""
    os_err = _oserror_in(exc)
    if os_err is None or os_err.errno is None:
        return type(exc).__name__
    name = errno.errorcode.get(os_err.errno, str(os_err.errno))
    return f"{type(exc).__name__} [{name}] {os_err.strerror or ''}".rstrip()


def storage_reason(exc: BaseException) -> tuple[str, bool]:
    """('journal write failed: No space left on device', True) from a JournalError (or OSError) and its causes.
    No path and no free text of the error (it goes into the `visit.failed` event): the error's type otherwise."""
    os_err = _oserror_in(exc)
    if os_err is not None and os_err.errno is not None:
        return (f"journal write failed: {os_err.strerror or errno.errorcode.get(os_err.errno, os_err.errno)}",
                os_err.errno == errno.ENOSPC)
    return f"journal write failed: {type(exc).__name__}", "No space left" in str(exc)


class VisitOpenFailed(SessionError):
    """The visit's journal could not be written while the visit was being opened (a full disk, EIO).

    Nothing was recorded (no source had started), so nothing is kept: the half-made visit folder is removed and
    the claim released, and the same subject and visit can be recorded again. `str()` is the operator's line."""

    def __init__(self, key: str, reason: str, *, no_space: bool, left_behind: Path | None = None,
                 data_dir: Path | None = None) -> None:
        self.key = key
        self.reason = reason
        when = "when space is free" if no_space else "once the disk is fixed"
        if left_behind is None:
            tail = f"nothing was recorded, nothing is kept; visit {key} can be recorded again {when}"
        else:
            tail = (f"nothing was recorded; its empty folder {left_behind} could not be removed: run amuse-acq "
                    f"recover {data_dir} {when} (it sets it aside), then record visit {key} again")
        super().__init__(f"visit {key} could not be opened: {reason}; {tail}")
