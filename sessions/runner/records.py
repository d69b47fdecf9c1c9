"""What the runner keeps of a visit, as it goes into the file: `/qc/protocol_run` (`RunRecord`) and the events.

`RunRecord` is the whole run so far: per planned step its status, every attempt (never overwritten) with its QC
verdict and outcome, the chosen attempt, the skip or accept reason, the notes; the abort, the sign-off. The runner
records it again after every decision (a `qc` meta record, the newest wins), so a visit recovered after a crash
still says how far its protocol got. Its decisions are also events on the timeline (kind `operator`, the QC
verdicts kind `qc`), so `vf.events(step=...)` shows them where they happened.

Nothing here has a field for the randomisation arm, and nothing may carry one: the trial is quadruple-masked.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sessions.subject import validate_operator

#: the `/qc` attribute holding the run
PROTOCOL_RUN_QC = "protocol_run"
RUN_FORMAT = "amuse-protocol-run/1"

# the runner's events (docs/file-format.md, "/events/table")
STEP_QC = "step.qc"  # kind qc: the attempt's verdict (attempt, passed, failures)
STEP_REPEATED = "step.repeated"  # kind operator: the attempt is superseded by a new one
STEP_ACCEPTED = "step.accepted"
STEP_SKIPPED = "step.skipped"
STEP_CHOSEN = "step.chosen"
NOTE_ADDED = "note.added"
VISIT_ABORTED = "visit.aborted"
VISIT_SIGNED_OFF = "visit.signed_off"


class RunnerState(str, Enum):
    """`opened -> preflight -> ready -> step_running -> step_review -> ... -> closing -> sealed`, or `aborted`
    (sealed with what was recorded, and the reason); `failed`: the visit's journal failed (nothing sealed, the
    journal is kept for `recover`)."""

    opened = "opened"
    preflight = "preflight"
    ready = "ready"
    step_running = "step_running"
    step_review = "step_review"
    closing = "closing"
    sealed = "sealed"
    aborted = "aborted"
    failed = "failed"


FINAL_STATES = frozenset({RunnerState.sealed, RunnerState.aborted, RunnerState.failed})

CheckName = Literal["samples", "signal", "saturation", "device_events", "scans", "jaw_opening", "plate_loaded",
                    "manual"]
CheckStatus = Literal["pass", "fail", "not_judged"]


class QcCheck(BaseModel):
    """One check of a step's QC: `detail` is the line the technician reads; `value` against `limit` when numeric."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: CheckName
    stream: str = ""
    status: CheckStatus
    detail: str
    value: float | None = None
    limit: float | None = None


class StepVerdict(BaseModel):
    """The QC of one attempt: it passed when no check failed. `settled`: every expected stream's samples up to
    the step's end reached the journal within the wait (false: a stream that stopped, judged as it is)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: bool
    checks: tuple[QcCheck, ...]
    duration_s: float
    nominal_s: float
    settled: bool = True

    @property
    def failures(self) -> list[str]:
        return [f"{c.stream}: {c.detail}" if c.stream else c.detail for c in self.checks if c.status == "fail"]


#: "" undecided; `repeated`: another attempt followed; `accepted`: the chosen one of a done step; `not_chosen`: a
#: later attempt of a step accepted on an earlier one; `skipped` / `aborted`: the step's last attempt
AttemptOutcome = Literal["", "repeated", "accepted", "not_chosen", "skipped", "aborted"]


class Attempt(BaseModel):
    """One run of a step, kept whatever came after it (`outcome`: what the technician decided on it)."""

    model_config = ConfigDict(extra="forbid")

    attempt: int = Field(ge=1)
    t_start: float
    utc_start: str
    t_end: float | None = None
    utc_end: str = ""
    verdict: StepVerdict | None = None
    outcome: AttemptOutcome = ""


class Note(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    operator: str
    utc: str
    t_lsl: float
    attempt: int | None = None


StepStatus = Literal["pending", "running", "review", "done", "skipped", "aborted"]


class StepRecord(BaseModel):
    """A planned step and what happened to it. `chosen`: the attempt the analysis uses (default the last)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    instrument: str
    status: StepStatus = "pending"
    attempts: list[Attempt] = Field(default_factory=list)
    chosen: int | None = None
    accept_reason: str = ""
    skip_reason: str = ""
    notes: list[Note] = Field(default_factory=list)

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def attempt(self, n: int) -> Attempt | None:
        return next((a for a in self.attempts if a.attempt == n), None)


class SignOff(BaseModel):
    """The technician's sign-off at close: who (a staff login, never a patient's name). The time is the runner's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operator: str

    @field_validator("operator")
    @classmethod
    def _operator(cls, v: str) -> str:
        return validate_operator(v)


class SignOffRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operator: str
    utc: str
    t_lsl: float


class AbortRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str
    operator: str
    utc: str
    t_lsl: float
    step: str = ""


class RunRecord(BaseModel):
    """`/qc/protocol_run`: the protocol as it was run for this visit."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["amuse-protocol-run/1"] = RUN_FORMAT
    protocol: dict[str, Any]
    visit: str
    outcome: Literal["in_progress", "completed", "aborted"] = "in_progress"
    preflight: Literal["not_run", "blocked", "passed", "none"] = "not_run"
    abort: AbortRecord | None = None
    sign_off: SignOffRecord | None = None
    notes: list[Note] = Field(default_factory=list, description="notes on the visit, not on a step")
    steps: list[StepRecord]
    device_errors: dict[str, str] = Field(default_factory=dict, description="sources that could not join the visit")
