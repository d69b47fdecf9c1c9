"""Why the reader refuses a visit file: one base class, one subclass per reason, one line each.

A caller that only wants "can I trust this file?" catches `VisitFileError`; one that reacts per reason (a
data manager's script skipping unsealed files, a dashboard showing "damaged") catches the subclass.
"""

from __future__ import annotations

from pathlib import Path


class VisitFileError(Exception):
    """The visit file cannot be trusted (or read); the message is one line naming the file, what was expected and
    what was found."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.reason = message
        super().__init__(f"{self.path.name}: {message}")


class VisitFileUnreadable(VisitFileError):
    """HDF5 cannot open it: not HDF5, truncated, a damaged superblock, a file that is not there."""


class VisitFileHung(VisitFileError):
    """HDF5 did not finish opening it within the probe's time limit (a dead network mount, a pathological file)."""


class UnknownSchemaVersion(VisitFileError):
    """Its `schema_version` is not the one this software reads."""


class VisitFileNotSealed(VisitFileError):
    """Its `state` is not one of the sealed states (`schema.STATES`): a partial file, still recording."""


class VisitFileNameMismatch(VisitFileError):
    """Its name is not `<subject>_<visit>.h5` of its own root attributes: it may be the wrong patient's file."""


class VisitFileDamaged(VisitFileError):
    """Its content fails a check: a digest that does not match (when verification was asked), a root attribute
    missing or of the wrong type, a stored description that does not parse."""
