"""The session manager's errors: a refused operation, and a visit stopped by its journal.

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


def storage_reason(exc: BaseException) -> tuple[str, bool]:
    """('journal write failed: No space left on device', True) from a JournalError (or OSError) and its causes."""
    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, OSError) and e.errno is not None:
            return f"journal write failed: {e.strerror or errno.errorcode.get(e.errno, e.errno)}", e.errno == errno.ENOSPC
        e = e.__cause__
    return f"journal write failed: {exc}".splitlines()[0], "No space left" in str(exc)
