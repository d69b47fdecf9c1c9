"""The audit trail's two failures: an entry refused before anything is written, and an entry that could not be
written. Both are one line; neither ever quotes a refused payload value (it may be the identifying text)."""

from __future__ import annotations


class AuditRefused(ValueError):
    """The entry breaks a rule (action, operator, payload: `payload_rules`): nothing was written."""


class AuditWriteError(RuntimeError):
    """The entry could not be made durable (a daily log that cannot be locked, read or written, a closed trail).
    A visit's own chain is written first: its journal failures raise the session's own error (`VisitFailed`)."""
