"""`AttemptJudge`: the QC verdict of one step attempt, from the journal (`JournalTail`) and the checks (`step_qc`).

A step's last samples reach the journal a little after the step ends (a reader's read timeout, a driver's
queue): the judge waits, at most `settle_s` of the protocol, until every regular stream of the step has a sample
at or after the end, then judges what is there. A stream that stopped (a device unplugged) does not catch up: it
is judged as it is once the wait is over, and `settled` is false. A scan step waits before it ends, at most
`scan_settle_s`, for its expected captures to be ingested, so a capture exported just before the end is counted
in its step (the scanner tags a capture with the step in force when it is ingested).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from acquisition.events import Event
from acquisition.lslenv import local_clock
from acquisition.stream import StreamSpec
from sessions.protocol import Protocol, ProtocolStep
from sessions.runner.journal_tail import JournalTail
from sessions.runner.records import QcCheck, StepVerdict
from sessions.runner.step_qc import (StreamTally, applicable_limits, check_device_events, check_jaw_opening,
                                     check_plate_loaded, check_samples, check_saturation, check_scans, check_signal,
                                     step_rules)

POLL_S = 0.05


class AttemptJudge:
    """One per visit, used from the runner's thread only."""

    def __init__(self, tail: JournalTail, protocol: Protocol, *, clock: Callable[[], float] = local_clock,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._tail = tail
        self._protocol = protocol
        self._clock = clock
        self._sleep = sleep
        self._scans = 0
        self._scan_step = ""

    # -- scans -------------------------------------------------------------------------------------------
    def begin(self, step: ProtocolStep) -> None:
        """An attempt of `step` starts: captures ingested before it are not its own."""
        self._tail.scans()
        self._scans, self._scan_step = 0, step.name

    def scans_so_far(self) -> int:
        for attrs in self._tail.scans():
            if attrs.get("step") == self._scan_step:
                self._scans += 1
        return self._scans

    def wait_for_scans(self, step: ProtocolStep) -> int:
        """Before a scanner step ends: its expected captures, or `scan_settle_s` passed."""
        deadline = self._clock() + self._protocol.qc.scan_settle_s
        while self.scans_so_far() < step.expected_scans and self._clock() < deadline:
            self._sleep(POLL_S)
        return self._scans

    # -- the verdict ---------------------------------------------------------------------------------------
    def judge(self, step: ProtocolStep, t0: float, t1: float, *, streams: Sequence[StreamSpec],
              sources: Sequence[str]) -> StepVerdict:
        """The verdict of the attempt `[t0, t1)` of `step`, whose instrument recorded `streams` from `sources`."""
        nominal, duration = step.total_s, max(0.0, t1 - t0)
        if step.instrument == "manual":
            check = QcCheck(check="manual", status="pass", detail="manual step: nothing recorded to judge")
            return StepVerdict(passed=True, checks=(check,), duration_s=duration, nominal_s=nominal)
        defaults = self._protocol.qc
        min_share, max_sat, min_loaded = step_rules(step, defaults)
        tallies = [StreamTally(s, t0, t1, limits=applicable_limits(self._protocol.stream_qc(s.name), s),
                               load_min_kg=step.qc.min_load_kg) for s in streams]
        settled = self._settle(tallies, t1, defaults.settle_s)
        checks: list[QcCheck] = []
        if step.instrument == "scanner":
            checks.append(check_scans(self.scans_so_far(), step.expected_scans))
        for t in tallies:
            rules = self._protocol.stream_qc(t.spec.name)
            checks += [check_samples(t, min_share=min_share), check_signal(t, rules, flat_ptp=defaults.flat_ptp),
                       check_saturation(t, applicable_limits(rules, t.spec), max_share=max_sat)]
        if step.instrument != "scanner" and not streams:
            checks.append(QcCheck(check="samples", status="fail",
                                  detail=f"no stream of the {step.instrument} instrument is recording"))
        if step.qc.min_opening_mm is not None:
            checks.append(check_jaw_opening(tallies, channel=step.qc.opening_channel, min_mm=step.qc.min_opening_mm))
        if step.qc.min_load_kg is not None:
            checks += check_plate_loaded(tallies, min_kg=step.qc.min_load_kg, min_share=min_loaded)
        checks.append(check_device_events(self._step_events(t0, t1, {s.name for s in streams}, set(sources))))
        return StepVerdict(passed=all(c.status != "fail" for c in checks), checks=tuple(checks),
                           duration_s=duration, nominal_s=nominal, settled=settled)

    def _settle(self, tallies: Sequence[StreamTally], t1: float, settle_s: float) -> bool:
        deadline = self._clock() + settle_s
        while True:
            for t in tallies:
                for ch in self._tail.chunks(t.spec.name):
                    t.add(ch)
            if all(t.latest_t >= t1 for t in tallies if t.spec.nominal_rate > 0):
                return True
            if self._clock() >= deadline:
                return False
            self._sleep(POLL_S)

    def _step_events(self, t0: float, t1: float, streams: set[str], sources: set[str]) -> list[Event]:
        out = []
        for e in self._tail.events():
            if e.kind != "device" or not t0 <= e.t_lsl < t1:
                continue
            if set(e.stream.split(",")) & streams or e.payload.get("source") in sources:
                out.append(e)
        return out
