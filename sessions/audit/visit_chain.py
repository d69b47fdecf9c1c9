"""A visit's own chain: entries journalled through the session, compacted into the sealed file's `/audit`.

The session is the only writer of its visit's journal (one `Journal` per directory, flock'ed), so the chain's
state (next seq, last hash) lives here, in memory, for the one `AuditTrail` of the visit. The session's
`write_audit(seq, line)` journals the entry as an `AuditRecord` in the `audit` log and fsyncs it before it
returns (`acquisition.journal.records.journal_audit`); the compactor writes the lines, in order, to
`/audit/entries`, and its ledger reports an entry lost in the journal (`journal_damage`).
"""

from __future__ import annotations

from typing import Protocol

from sessions.audit.entry import CLOSED, ZERO_HASH, AuditEntry, chain_of_visit
from sessions.audit.daily_log import MakeEntry


class VisitSink(Protocol):
    """What a visit offers its audit chain (`SessionManager` is one)."""

    @property
    def key(self) -> str: ...

    def write_audit(self, seq: int, line: str) -> None: ...


class VisitChain:
    """Appends entries to one visit's chain. Not thread-safe on its own: `AuditTrail` serialises the calls."""

    def __init__(self, sink: VisitSink) -> None:
        self._sink = sink
        self.chain = chain_of_visit(sink.key)
        self._next = 0
        self._last = ZERO_HASH
        self.closed = False

    @property
    def entries(self) -> int:
        """Entries written so far."""
        return self._next

    def append(self, make: MakeEntry) -> AuditEntry:
        """Journal the entry `make(seq, prev, chain)` builds; the chain advances only once the sink returned."""
        entry = make(self._next, self._last, self.chain)
        self._sink.write_audit(entry.seq, entry.line())
        self._next, self._last = entry.seq + 1, entry.hash
        if entry.action == CLOSED:
            self.closed = True
        return entry
