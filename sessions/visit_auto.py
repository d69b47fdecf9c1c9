"""The automatic operator: `visit run --auto` and the demo, driving the runner as a technician would, without one.

What it decides, and why (docs/protocol.md, "--auto"):
- pre-flight: a failed gate is overridden only with a reason given beforehand (`--override-gate GATE=REASON`, or
  the demo's one reason for any gate); otherwise the visit is aborted (`PreflightBlocked`): an unattended run
  never takes responsibility for a gate nobody looked at;
- a device step (EMG + jaw, stabilometry) runs its nominal duration divided by `speed` (or the demo's own
  duration for that step); a scanner step takes its captures when the rig is simulated in process (`hands`), and
  ends once the runner has them or its `scan_settle_s` passed; a manual step (questionnaires, scores, the
  electrodes' wait, the injection) is marked done at once: nothing is recorded by it;
- a step whose QC failed is repeated once; failing again, it is accepted with the reason `auto: QC failed twice`
  (the last attempt chosen, both kept with their verdicts): a CI run or a demo must reach the seal, and the file
  says plainly which steps a person would have had to decide on.

`hands`: the simulated rig in this process (`SimulatedRig`): its patient follows the step (`set_step`), its
scanner writes the captures, its plate is cleared for the pre-flight (`place_load`); None on a real rig or a
`rig simulate` running elsewhere.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any, Protocol

from drivers.signals.plate_load import PlateLoad
from sessions.protocol import ProtocolStep
from sessions.runner import StepVerdict
from sessions.visit_run import PreflightBlocked, VisitRun

#: the reason an automatic run accepts a step that failed its QC twice
AUTO_ACCEPT_REASON = "auto: QC failed twice"
SCAN_FORMATS = ("obj", "ply", "stl")


class RigHands(Protocol):
    """What the automatic operator does on a simulated rig in process (`sessions.simulated_rig.SimulatedRig`)."""

    def set_step(self, step: str, duration_s: float) -> None: ...

    def take_scan(self, condition: str, repetition: int, *, fmt: str = "obj") -> Any: ...

    def take_photos(self) -> Any: ...

    def place_load(self, load: PlateLoad | None) -> None: ...


def verdict_line(step: ProtocolStep, verdict: StepVerdict, attempt: int) -> str:
    again = f" (attempt {attempt})" if attempt > 1 else ""
    if verdict.passed:
        return f"  {step.name}{again}: {verdict.duration_s:.1f} s, QC passed"
    return f"  {step.name}{again}: {verdict.duration_s:.1f} s, QC failed: " + "; ".join(verdict.failures)


class AutoOperator:
    """The automatic operator (module docstring). `durations`: step name -> seconds at speed 1, replacing the
    nominal duration (the demo's accelerated timing)."""

    def __init__(self, *, speed: float = 1.0, durations: Mapping[str, float] | None = None,
                 gate_overrides: Mapping[str, str] | None = None, any_gate_reason: str | None = None,
                 hands: RigHands | None = None) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a finite factor > 0, got {speed!r}")
        self.speed, self.durations = speed, dict(durations or {})
        self.gate_overrides, self.any_gate_reason = dict(gate_overrides or {}), any_gate_reason
        self.hands = hands

    def duration(self, step: ProtocolStep) -> float:
        return self.durations.get(step.name, step.total_s) / self.speed

    # -- pre-flight --------------------------------------------------------------------------------------------
    def preflight(self, run: VisitRun) -> None:
        self._hand(lambda h: h.place_load(PlateLoad.empty()))  # the technician clears the plate for its zero check
        blocking = run.runner.preflight()
        for line in self.gate_lines(run):
            run.say(f"  gate {line}")
        for gate in blocking:
            reason = self.gate_overrides.get(gate) or self.any_gate_reason
            if reason is None:
                raise PreflightBlocked("; ".join(run.runner.blocking_gates) + " (give --override-gate GATE=REASON)")
            run.runner.override(gate, reason)
            run.say(f"  gate {gate}: overridden: {reason}")
        self._hand(lambda h: h.place_load(None))  # the subject again (steps onto the plate when told)

    @staticmethod
    def gate_lines(run: VisitRun) -> list[str]:
        report = run.report
        return [] if report is None else [f"{g.name}: {g.status}: {g.detail}" for g in report.gates]

    # -- steps -------------------------------------------------------------------------------------------------
    def step(self, run: VisitRun, step: ProtocolStep) -> None:
        dur = self.duration(step)
        self._tell(step, dur)
        run.runner.start_step(step.name, duration_s=dur)
        verdict = self._perform(run, step, dur, attempt=1)
        if verdict.passed:
            run.runner.accept()
            return
        run.say(f"  {step.name}: repeating it once (automatic operator)")
        self._tell(step, dur)
        run.runner.repeat()
        verdict = self._perform(run, step, dur, attempt=2)
        if verdict.passed:
            run.runner.accept()
        else:
            run.runner.accept(AUTO_ACCEPT_REASON)
            run.say(f"  {step.name}: accepted ({AUTO_ACCEPT_REASON})")

    def _perform(self, run: VisitRun, step: ProtocolStep, dur: float, *, attempt: int) -> StepVerdict:
        if step.instrument == "scanner":
            self._scan(step, attempt)
        elif step.instrument != "manual":
            run.stop.wait(dur)
            run.check_stop()  # an abort judges the running attempt and keeps it
        verdict = run.runner.end_step()
        self._hand(lambda h: h.set_step("idle", 1.0))
        run.say(verdict_line(step, verdict, attempt))
        return verdict

    def _scan(self, step: ProtocolStep, attempt: int) -> None:
        if self.hands is None:
            return
        if step.name == "photos":
            self._hand(lambda h: h.take_photos())
            return
        condition = step.name.removeprefix("scan_")
        for rep in range(1, step.expected_scans + 1):
            # a retake is a new capture of the same repetition: the scanner never overwrites a file
            fmt = SCAN_FORMATS[(rep - 1) % len(SCAN_FORMATS)]
            self._hand(lambda h, r=rep, f=fmt: h.take_scan(condition, r + (attempt - 1) * 10, fmt=f))

    def _tell(self, step: ProtocolStep, dur: float) -> None:
        self._hand(lambda h: h.set_step(step.name, dur))

    def _hand(self, act: Any) -> None:
        if self.hands is None:
            return
        with contextlib.suppress(RuntimeError):  # a simulated device switched off (a test) answers an error
            act(self.hands)
