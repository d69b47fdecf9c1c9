"""Which runner action is allowed in which state: the refusals (`RunnerRefused` with its `Refusal` code) the
`VisitRunner` raises before it changes anything. One place, so every action words the same state the same way."""

from __future__ import annotations

from collections.abc import Callable

from sessions.runner.errors import Refusal, RunnerRefused
from sessions.runner.plan_book import PlanBook
from sessions.runner.preflight_phase import PreflightPhase
from sessions.runner.records import FINAL_STATES, Attempt, RunnerState, StepRecord


class StateGuards:
    """The guards of one runner; `state` reads its current state (the runner's own, never copied here)."""

    def __init__(self, *, state: Callable[[], RunnerState], key: str, book: PlanBook, phase: PreflightPhase) -> None:
        self._state_now = state
        self._key = key
        self._book = book
        self._phase = phase

    def in_review(self, doing: str) -> StepRecord:
        if self._state_now() is not RunnerState.step_review:
            self.not_over()
            raise RunnerRefused(Refusal.step_running if self._state_now() is RunnerState.step_running
                                else Refusal.not_in_review,
                                f"cannot {doing}: no step is in review (state {self._state_now().value})")
        return self._book.record

    def in_step(self) -> bool:
        return self._state_now() in (RunnerState.step_running, RunnerState.step_review)

    def not_over(self) -> None:
        if self._state_now() in FINAL_STATES or self._state_now() is RunnerState.closing:
            raise RunnerRefused(Refusal.visit_over, f"visit {self._key} is {self._state_now().value}")

    def require(self, *states: RunnerState) -> None:
        self.not_over()
        if self._state_now() not in states:
            raise RunnerRefused(Refusal.out_of_order, f"not in state {self._state_now().value}: only in "
                                f"{' or '.join(s.value for s in states)}")

    def steps_allowed(self) -> None:
        self.not_over()
        if self._state_now() is RunnerState.opened:
            raise RunnerRefused(Refusal.preflight_required, "run the pre-flight before the first step")
        if self._state_now() is RunnerState.preflight:
            raise RunnerRefused(Refusal.preflight_blocked, "the pre-flight blocks the first step: "
                                + "; ".join(self._phase.blocking_details()) + " (fix and run it again, or override)")
        if self._state_now() is RunnerState.step_running:
            raise RunnerRefused(Refusal.step_running, f"step {self._book.step.name} is running: end it first")

    def passed_review(self, doing: str) -> tuple[StepRecord, Attempt] | None:
        """The step in review and its chosen attempt, if one is in review: refused unless its QC passed (a passed
        step is accepted by going on; the caller accepts it once nothing else can refuse)."""
        return self._book.passed_or_refuse(doing) if self._state_now() is RunnerState.step_review else None
