"""What a session records besides samples and events: outcomes, QC entries (the pre-flight gates, the protocol
run), audit entries, calibrations taken during the visit. A mixin of `SessionManager` (its journal, its state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from acquisition.journal.records import AuditRecord, OutcomesRecord, QcRecord
from sessions.session_state import SessionState

if TYPE_CHECKING:
    from calibration.records import CalibrationRecord
    from sessions.manager import SessionManager


class VisitRecords:
    """`record_outcomes`, `record_qc`, `write_audit`, `record_calibration` of `SessionManager`."""

    def record_outcomes(self: SessionManager, rows: Sequence[tuple[str, str, float, str, str]]) -> None:
        if self._failure is not None:
            raise self._failure
        assert self._journal is not None
        self._journal.write_meta(OutcomesRecord(rows=[tuple(r) for r in rows]))

    def record_qc(self: SessionManager, name: str, value: Mapping[str, Any]) -> None:
        """Store a QC entry computed for this visit as `/qc/<name>` (JSON; the newest of a name wins): the
        pre-flight gates (`sessions.preflight.record_preflight`), recorded again after each override."""
        self._require(SessionState.recording)
        assert self._journal is not None
        self._journal.write_meta(QcRecord(name=name, value=dict(value)))

    def write_audit(self: SessionManager, seq: int, line: str) -> None:
        """Journal entry `seq` of this visit's audit chain, fsynced now (`sessions.audit.AuditTrail.for_visit`)."""
        assert self._journal is not None, "the visit is not open"
        self._journal.write_audit(AuditRecord(seq=seq, entry=line))

    def record_calibration(self: SessionManager, record: CalibrationRecord) -> None:
        """Add a calibration taken during the visit (a per-visit kind: the jaw reference, the EMG noise floor and
        cotton-roll level) to the visit file's `/calibration`, beside the records in force at open
        (`VisitCalibrations.record`: ids unique, a retake `supersedes` the previous one, journalled in `meta` and
        `meta-copy`, announced by `calibration.recorded`). A failed record is stored too: it was tried."""
        self._require(SessionState.recording)
        assert self._journal is not None
        kept = self._calibrations.record(record, write=self._journal.write_calibration, event=self.event)
        self._log.info("calibration.recorded", kind=kept.kind, id=kept.id, passed=kept.passed)
