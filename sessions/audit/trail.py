"""`AuditTrail`: what the protocol runner (and later the service) calls to put an action on the record.

    trail = AuditTrail.for_visit(session)                       # the visit's chain + the daily log
    trail.record("step.skipped", operator="tech1", payload={"step": "jaw_max_opening", "reason": "pain"})
    ...
    trail.close()                                               # the closing entry, before session.close()

Each `record` writes the entry to the visit's chain (journalled and fsynced through the session: it reaches the
sealed file's `/audit`) and then its twin to the daily log `DATA_DIR/audit/YYYY-MM-DD.jsonl` (fsynced, under the
folder's flock), and returns the visit's entry. A trail without a visit (a `calibrate` run, a `rig check`) writes
to the daily log only. The action is on the record when `record` returns; the caller takes the action after it
(an action whose entry could not be written must not be taken silently).

Order and failures: the visit's entry first (it is the one a sealed file keeps), then the twin. A journal failure
raises the session's own error (`VisitFailed`: the visit stops anyway) and writes no twin; a daily-log failure
raises `AuditWriteError` after the visit's entry is written (`audit verify DIR` then reports the missing twin).
Rules an entry must meet are checked before anything is written (`AuditRefused`): `action` is `noun.verb`
(`audit.*` is the trail's own), `operator` a staff login (`system` for the software), the payload `payload_rules`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from acquisition import __version__
from acquisition.config import DEFAULT_SUBJECT_PATTERN
from acquisition.log import get_logger
from sessions.audit.daily_log import AUDIT_DIR, DailyLog
from sessions.audit.entry import CLOSED, FORMAT, GENESIS, AuditEntry, AuditRef, seal_entry
from sessions.audit.errors import AuditRefused, AuditWriteError
from sessions.audit.payload_rules import check_payload
from sessions.audit.visit_chain import VisitChain, VisitSink

if TYPE_CHECKING:
    from sessions.manager import SessionManager

_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", re.ASCII)
_OPERATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", re.ASCII)
#: operator of the entries the software writes on its own (genesis, closing, device events)
SYSTEM = "system"


def _utc_now() -> str:
    from acquisition.clock import utc_iso

    return utc_iso()


class AuditTrail:
    """The audit trail of one visit (`for_visit`), or of the machine alone (`AuditTrail(data_dir)`)."""

    def __init__(self, data_dir: Path, *, visit: VisitSink | None = None, uid: int | None = None,
                 clock: Callable[[], float] | None = None, utc: Callable[[], str] = _utc_now,
                 subject_pattern: str = DEFAULT_SUBJECT_PATTERN) -> None:
        """`data_dir`: DATA_DIR (its `audit/` holds the daily logs). `visit`: the open visit whose chain this is;
        its genesis is written now. `uid`: the OS uid recorded by default (`os.getuid()`; the service passes its
        peer's per `record`). `clock`: the LSL clock (default `pylsl.local_clock`), `utc`: the wall clock."""
        if clock is None:
            from acquisition.lslenv import local_clock

            clock = local_clock
        self._clock = clock
        self._utc = utc
        self._uid = os.getuid() if uid is None else uid
        self._subject_pattern = subject_pattern
        self.daily = DailyLog(Path(data_dir) / AUDIT_DIR, uid=self._uid)
        self._visit = VisitChain(visit) if visit is not None else None
        self._lock = threading.Lock()
        self._log = get_logger("audit", **({"visit": visit.key} if visit is not None else {}))
        if self._visit is not None:
            self._write(GENESIS, SYSTEM, {"format": FORMAT, "software_version": __version__}, None, None)

    @classmethod
    def for_visit(cls, session: SessionManager, **options: Any) -> "AuditTrail":
        """The trail of an open visit: its chain goes through `session.write_audit`, the daily log is in the
        visit's DATA_DIR, the subject pattern is the session's. `options`: as the constructor's."""
        options.setdefault("subject_pattern", session.settings.subject_pattern)
        return cls(session.settings.data_dir, visit=session, **options)

    @property
    def chain(self) -> str | None:
        """The visit chain's id (`visit/<key>`), None for a machine-only trail."""
        return self._visit.chain if self._visit is not None else None

    def record(self, action: str, *, operator: str, payload: Mapping[str, Any], t_lsl: float | None = None,
               uid: int | None = None) -> AuditEntry:
        """Put `action` by `operator` on the record, durably, and return its entry (the visit's, if any).
        `t_lsl` defaults to the LSL clock now, `uid` to the trail's. Raises `AuditRefused` (nothing written),
        `AuditWriteError`, or the session's `VisitFailed`."""
        if not isinstance(action, str) or _ACTION.fullmatch(action) is None or len(action) > 64:
            raise AuditRefused(f"audit action {action!r} must be 'noun.verb': lower-case words joined by dots "
                               "(at most 64 characters)")
        if action.startswith("audit."):
            raise AuditRefused(f"audit action {action!r}: 'audit.*' actions are written by the trail itself")
        if not isinstance(operator, str) or _OPERATOR.fullmatch(operator) is None:
            raise AuditRefused(f"audit operator {operator!r} must be a staff login: 1-32 ASCII letters, digits, "
                               "'_', '.' or '-', starting with a letter or digit")
        if uid is not None and (isinstance(uid, bool) or not isinstance(uid, int) or not 0 <= uid < 2**32):
            raise AuditRefused(f"audit uid {uid!r} must be an OS uid (an integer 0 .. 2^32-1)")
        body = check_payload(dict(payload), subject_pattern=self._subject_pattern)
        return self._write(action, operator, body, t_lsl, uid)

    def close(self, *, operator: str = SYSTEM) -> AuditEntry:
        """Write the visit chain's closing entry (`audit.closed`, payload `entries`: the chain's length with it).
        Call it before `session.close()`: `audit verify` reports a visit chain that has none as truncated. Later
        `record` calls are refused."""
        if self._visit is None:
            raise AuditWriteError("a machine-only audit trail has no visit chain to close")
        return self._write(CLOSED, operator, {"entries": self._visit.entries + 1}, None, None)

    def _write(self, action: str, operator: str, payload: dict[str, Any], t_lsl: float | None,
               uid: int | None) -> AuditEntry:
        with self._lock:
            if self._visit is not None and self._visit.closed:
                raise AuditWriteError(f"the audit trail of {self._visit.chain} is closed: {action} not recorded")
            utc = self._utc()
            common: dict[str, Any] = {
                "utc": utc, "t_lsl": self._clock() if t_lsl is None else t_lsl, "operator": operator,
                "uid": self._uid if uid is None else uid, "action": action, "payload": payload}
            try:
                ref: AuditRef | None = None
                entry: AuditEntry | None = None
                if self._visit is not None:
                    entry = self._visit.append(lambda seq, prev, chain: seal_entry(
                        seq=seq, prev=prev, chain=chain, **common))
                    ref = AuditRef(chain=entry.chain, seq=entry.seq, hash=entry.hash)
                twin = self.daily.append(utc[:10], lambda seq, prev, chain: seal_entry(
                    seq=seq, prev=prev, chain=chain, ref=ref, **common), utc=utc)
            except ValidationError as exc:  # a clock returning a non-finite time, a malformed utc
                first = exc.errors()[0]
                raise AuditRefused(f"audit entry {action}: field {'.'.join(map(str, first['loc']))}: "
                                   f"{first['msg']}") from None
            self._log.info("audit.recorded", action=action, seq=(entry or twin).seq, chain=(entry or twin).chain)
            return entry or twin
