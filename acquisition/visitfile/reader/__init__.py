"""The one read-only reader of a visit file: what inspect, verify, recover, replay, outcomes and a data manager's
script read through. `docs/reading-a-visit.md` shows it in use.

    with VisitFile.open("DATA/ABC-001_D0.h5") as vf:
        emg = vf.streams["emg"].read_time(t0, t1, physical=True)
"""

from acquisition.visitfile.reader._errors import (
    UnknownSchemaVersion,
    VisitFileDamaged,
    VisitFileError,
    VisitFileHung,
    VisitFileNameMismatch,
    VisitFileNotSealed,
    VisitFileUnreadable,
)
from acquisition.visitfile.reader._file import VisitFile, name_problem, schema_problem
from acquisition.visitfile.reader._models import (
    AuditRow,
    CalibrationRecord,
    Gap,
    OutcomeRow,
    ProtocolStamp,
    ReplayOf,
    Samples,
    ScanAttrs,
    ScanSourceFile,
    VisitIdentity,
)
from acquisition.visitfile.reader._probe import PROBE_TIMEOUT_S, probe
from acquisition.visitfile.reader._scans import ScanView
from acquisition.visitfile.reader._stream import StreamView

__all__ = [
    "PROBE_TIMEOUT_S", "AuditRow", "CalibrationRecord", "Gap", "OutcomeRow", "ProtocolStamp", "ReplayOf", "Samples",
    "ScanAttrs", "ScanSourceFile",
    "ScanView", "StreamView", "UnknownSchemaVersion", "VisitFile", "VisitFileDamaged", "VisitFileError",
    "VisitFileHung", "VisitFileNameMismatch", "VisitFileNotSealed", "VisitFileUnreadable", "VisitIdentity",
    "name_problem", "schema_problem", "probe",
]
