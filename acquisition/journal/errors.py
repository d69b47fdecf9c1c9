"""Errors of the journal: I/O failures of the writer and undecodable payloads."""

from __future__ import annotations


class JournalError(RuntimeError):
    """The journal could not durably store what it was given (disk full, EIO, closed, locked...).

    Never swallowed: an append that raises this has NOT been stored, and after an fsync failure the whole journal
    refuses further work (the kernel may have dropped dirty pages; pretending otherwise would lose data silently).
    """


class JournalFormatError(ValueError):
    """A payload (or a record) does not decode: wrong magic or version, truncated, inconsistent sizes."""
