"""`PlanBook`: the visit's plan (the protocol's steps for its visit code, in order) and what happened to each step.

The bookkeeping of the runner, kept apart from the state machine that drives the session: which step is next,
which attempt is chosen, what accepting or skipping a step writes into its record. Nothing here touches the
session, the journal or the audit; the refusals it raises change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions.protocol import ProtocolStep
from sessions.runner.errors import Refusal, RunnerRefused
from sessions.runner.records import Attempt, StepRecord


@dataclass(frozen=True)
class PlanItem:
    """A step of this visit's plan and what happened to it so far (a copy: changing it changes nothing)."""

    step: ProtocolStep
    record: StepRecord


class PlanBook:
    def __init__(self, steps: list[ProtocolStep]) -> None:
        self.steps = steps
        self.records = [StepRecord(name=s.name, instrument=s.instrument) for s in steps]
        self.index = 0  # the step running or in review (the runner's state says whether one is)

    def item(self, i: int) -> PlanItem:
        return PlanItem(self.steps[i], self.records[i].model_copy(deep=True))

    def items(self) -> list[PlanItem]:
        return [self.item(i) for i in range(len(self.steps))]

    @property
    def step(self) -> ProtocolStep:
        return self.steps[self.index]

    @property
    def record(self) -> StepRecord:
        return self.records[self.index]

    def next_pending(self, *, after_review: bool = False) -> int | None:
        """The next step to run (`after_review`: once the step in review is accepted)."""
        return next((i for i, r in enumerate(self.records) if r.status == "pending"
                     and not (after_review and i == self.index)), None)

    def pending(self) -> list[str]:
        return [r.name for r in self.records if r.status == "pending"]

    def find(self, name: str) -> StepRecord:
        rec = next((r for r in self.records if r.name == name), None)
        if rec is None:
            raise RunnerRefused(Refusal.unknown_step, f"step {name!r} is not in the plan of this visit "
                                f"({', '.join(r.name for r in self.records)})")
        return rec

    def refuse_out_of_order(self, name: str, nxt: int) -> None:
        rec = next((r for r in self.records if r.name == name), None)
        if rec is None:
            raise RunnerRefused(Refusal.unknown_step, f"step {name!r} is not in the plan of this visit; the next "
                                f"step is {self.steps[nxt].name}")
        raise RunnerRefused(Refusal.out_of_order, f"step {name} is {rec.status}: steps run in order, the next "
                            f"one is {self.steps[nxt].name}")

    @staticmethod
    def chosen(rec: StepRecord) -> Attempt:
        """The attempt the analysis uses: the one chosen, else the last."""
        att = rec.attempt(rec.chosen) if rec.chosen is not None else rec.last
        assert att is not None, f"step {rec.name} has no attempt"
        return att

    def passed_or_refuse(self, doing: str) -> tuple[StepRecord, Attempt]:
        """The step in review and its chosen attempt, refused unless that attempt's QC passed."""
        rec = self.record
        chosen = self.chosen(rec)
        assert chosen.verdict is not None
        if not chosen.verdict.passed:
            raise RunnerRefused(Refusal.decision_required, f"cannot {doing}: the QC of {rec.name} attempt "
                                f"{chosen.attempt} failed ({'; '.join(chosen.verdict.failures)}); repeat it, "
                                "accept it with a reason, or skip it with a reason")
        return rec, chosen

    @staticmethod
    def mark_accepted(rec: StepRecord, chosen: Attempt, why: str) -> None:
        for a in rec.attempts:
            if a is not chosen and a.outcome == "":
                a.outcome = "not_chosen"
        chosen.outcome = "accepted"
        rec.status, rec.chosen, rec.accept_reason = "done", chosen.attempt, why

    @staticmethod
    def mark_skipped(rec: StepRecord, why: str) -> None:
        if rec.attempts:
            rec.attempts[-1].outcome = "skipped"
        rec.status, rec.skip_reason, rec.chosen = "skipped", why, None
