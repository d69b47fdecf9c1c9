"""The pre-flight on the record: `/qc/preflight` of the visit file, and the events that put it on the timeline.

`record_preflight(session, report)` journals the whole report as the QC entry `preflight` (a `qc` meta record;
the newest wins, so recording again after an override replaces it) and a `preflight.recorded` event (kind `qc`,
payload: each gate's status and the blocking ones). `override_gate` lifts one failed gate: the report changes,
an operator event `preflight.overridden` says who, why and which gate, and the report is recorded again.
`read_preflight(vf)` gives the report back from a sealed file (None for a visit recorded without one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from acquisition.events import Event, EventKind
from acquisition.visitfile.reader import VisitFile, VisitFileDamaged
from sessions.preflight.result import GateResult, PreflightReport

#: the `/qc` attribute holding the report
PREFLIGHT_QC = "preflight"
PREFLIGHT_RECORDED = "preflight.recorded"
PREFLIGHT_OVERRIDDEN = "preflight.overridden"


class RecordingSession(Protocol):
    """What of `SessionManager` the recording needs (tests may pass their own)."""

    def record_qc(self, name: str, value: Mapping[str, Any]) -> None: ...

    def event(self, kind: EventKind, name: str, *, stream: str = "", step: str | None = None,
              payload: Mapping[str, Any] | None = None, t_lsl: float | None = None) -> Event: ...

    def operator_action(self, name: str, **payload: Any) -> None: ...


def record_preflight(session: RecordingSession, report: PreflightReport) -> None:
    """Journal `report` as `/qc/preflight` and announce it with a `preflight.recorded` event."""
    session.record_qc(PREFLIGHT_QC, report.model_dump(mode="json"))
    session.event("qc", PREFLIGHT_RECORDED, payload={"gates": report.summary(),
                                                      "blocking": [g.name for g in report.blocking]})


def override_gate(session: RecordingSession, report: PreflightReport, gate: str, reason: str,
                  operator: str) -> GateResult:
    """Override the failed `gate` (`PreflightReport.override`, PreflightError if it may not be), record who and
    why as an operator event, and record the report again."""
    result = report.override(gate, reason, operator)
    assert result.override is not None
    session.operator_action(PREFLIGHT_OVERRIDDEN, gate=gate, reason=result.override.reason,
                            operator=result.override.operator, detail=result.detail)
    record_preflight(session, report)
    return result


def read_preflight(vf: VisitFile) -> PreflightReport | None:
    """The pre-flight report stored in `vf` (`/qc/preflight`), None when the visit has none."""
    raw = vf.qc.get(PREFLIGHT_QC)
    if raw is None:
        return None
    try:
        return PreflightReport.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "report"
        raise VisitFileDamaged(vf.path, f"/qc/preflight does not parse at {where}: {first['msg']}") from None
