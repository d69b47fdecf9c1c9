"""The runner's refusals: one error class, with a code per case, and a one-line message saying what to do instead.

Why one class with a code rather than a class per case: a caller (the terminal walk-through, later the control
API) shows the message and branches on the code; a dozen classes would be a dozen imports saying the same thing.
A refusal changes nothing: the runner's state is what it was before the call.
"""

from __future__ import annotations

from enum import Enum

from sessions.session_errors import SessionError


class Refusal(str, Enum):
    preflight_required = "preflight_required"  # a step before the pre-flight was run
    preflight_blocked = "preflight_blocked"  # a failed gate, not overridden
    out_of_order = "out_of_order"  # not the next step of the plan
    step_running = "step_running"  # a step is running: end it first (no two at once)
    no_step_running = "no_step_running"  # end_step with no step running
    decision_required = "decision_required"  # the step's QC failed: repeat, accept with a reason, or skip
    not_in_review = "not_in_review"  # repeat / accept / choose outside a step's review
    reason_required = "reason_required"  # skip, abort, accept of a failed step, override: a reason is needed
    invalid_text = "invalid_text"  # a note or reason that is empty, too long or not printable
    unknown_step = "unknown_step"  # a step that is not in this visit's plan
    unknown_attempt = "unknown_attempt"  # choose() of an attempt that does not exist
    nothing_left = "nothing_left"  # skip or start with every step done
    steps_remaining = "steps_remaining"  # close with steps neither done nor skipped
    visit_over = "visit_over"  # anything after close or abort
    override_refused = "override_refused"  # the gate cannot be overridden (or is not failed)
    protocol_mismatch = "protocol_mismatch"  # the session was opened with another protocol (or none)


class RunnerRefused(SessionError):
    """A runner call refused in its state; `code` says which case (`Refusal`), the message what to do."""

    def __init__(self, code: Refusal, message: str) -> None:
        self.code = code
        super().__init__(message)
