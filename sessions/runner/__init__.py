"""The protocol runner: one visit walked through its protocol's steps, with a QC verdict at the end of each.

`VisitRunner(session, protocol, *, audit=..., sources=..., preflight=...)` (`runner`) is the state machine;
`records` holds what it stores (`/qc/protocol_run`, its events), `errors` its refusals, `contracts` what it is
given (the audit trail, the pre-flight gates), `preflight_phase` the devices and gates before the first step,
`qc_judge` + `step_qc` the verdicts (read from the journal by `journal_tail`). `open_visit` opens a session
with the protocol stamped into its file.
"""

from sessions.runner.contracts import (Audit, AuditTrailLike, CallableGates, GateLike, PreflightContext, PreflightGates,
                                       PreflightReportLike)
from sessions.runner.errors import Refusal, RunnerRefused
from sessions.runner.records import (PROTOCOL_RUN_QC, Attempt, Note, QcCheck, RunnerState, RunRecord, SignOff,
                                     StepRecord, StepVerdict)
from sessions.runner.runner import PlanItem, VisitRunner
from sessions.runner.session import open_visit

__all__ = [
    "PROTOCOL_RUN_QC", "Attempt", "Audit", "AuditTrailLike", "CallableGates", "GateLike", "Note", "PlanItem", "PreflightContext",
    "PreflightGates", "PreflightReportLike", "QcCheck", "Refusal", "RunRecord", "RunnerRefused", "RunnerState",
    "SignOff", "StepRecord", "StepVerdict", "VisitRunner", "open_visit",
]
