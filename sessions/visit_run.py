"""One visit run on a rig, from the window check to the seal: what `visit run` and the demo both do.

Why one function for both: the demo is the simulated rig plus an automatic operator driving this same path, so
what the demo shows (the window check, the audit trail, the pre-flight gates, the runner's steps and QC, the seal)
is what a technician's visit does, and a bug in one is a bug seen in the other.

The order, each part refusing before the next one starts:
1. the window rule (`check_window`: refused in one line unless overridden; nothing is claimed yet);
2. the visit opened with the protocol (`open_visit`: its hash in the file) and the rig's calibration records;
3. its audit trail (`AuditTrail.for_visit`), the window decision recorded as the event `visit.window_checked`
   and, when overridden, the audit entry `visit_window.overridden`;
4. the runner on the rig's sources with the rig's gates (`RigGates`), driven by an operator (`VisitOperator`:
   the terminal's technician, `visit_prompt`, or the automatic one, `visit_auto`) through `walk`;
5. sign-off and seal; a stop request (SIGTERM, Ctrl-C) or an error aborts the visit, which still seals what was
   recorded with the reason (`visit.aborted`), except a failed journal (`VisitFailed`: nothing can be sealed).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from acquisition.config import AcqSettings
from sessions.audit import AuditTrail
from sessions.manager import SealedVisit, SessionManager
from sessions.preflight.result import PreflightReport
from sessions.preflight.rig_gates import RigGates, by_instrument
from sessions.protocol import ProtocolFile, ProtocolStep
from sessions.rig.build import RigSources
from sessions.runner import RunnerState, SignOff, VisitRunner, open_visit
from sessions.scan_encoding import encode_capture
from sessions.session_errors import VisitFailed
from sessions.subject import VisitIdentity
from sessions.visit_windows import EVENT_NAME, WindowDecision, WindowOverride, require_window


class StopRequest(threading.Event):
    """A stop request with its reason (e.g. 'SIGTERM'), set from a signal handler, read by the operator."""

    reason: str = ""

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.set()


class VisitStopped(Exception):
    """A stop request (SIGTERM, Ctrl-C, the technician's abort) reached the operator: the visit is aborted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PreflightBlocked(Exception):
    """The pre-flight blocks and the operator will not override it: the visit is aborted (sealed, with why)."""


class VisitOperator(Protocol):
    """Who drives the runner: `preflight` until nothing blocks (override, run again, or raise), then `step` for
    each step of the plan until it is done or skipped."""

    def preflight(self, run: "VisitRun") -> None: ...

    def step(self, run: "VisitRun", step: ProtocolStep) -> None: ...


@dataclass
class VisitRun:
    """What an operator works with: the runner, the session (its live status), the gates (their report), the rig,
    the stop request, and where its lines go."""

    runner: VisitRunner
    session: SessionManager
    gates: RigGates
    rig: RigSources
    stop: threading.Event
    say: Callable[[str], None]
    stop_reason: Callable[[], str] = lambda: "stop requested"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def report(self) -> PreflightReport | None:
        return self.gates.report

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise VisitStopped(self.stop_reason())


def check_window(settings: AcqSettings, identity: VisitIdentity, *, override: WindowOverride | None = None,
                 at: _dt.datetime | None = None) -> WindowDecision:
    """The window rule for `identity` on the data directory's visits (`VisitWindowRefused` if refused)."""
    from sessions.visit_list import list_visits

    visits = list_visits(settings.data_dir, subject=identity.subject, windows=settings.visit_windows)
    return require_window(identity.subject, identity.visit.value, at=at or _dt.datetime.now(_dt.timezone.utc),
                          visits=visits, settings=settings, override=override)


def device_lines(run: VisitRun) -> list[str]:
    """One line per source the visit uses: `device ok: NAME: streams (model s/n serial)` or `device FAILED: NAME:
    why` (it could not be opened or joined; the devices gate said so, and its steps' QC will)."""
    errors = run.runner.record.device_errors
    used = {item.step.instrument for item in run.runner.plan}
    out = []
    for instrument, sources in by_instrument(run.rig).items():
        if instrument not in used:
            continue
        for src in sources:
            name = str(getattr(src, "name"))
            if name in errors:
                out.append(f"device FAILED: {name}: {errors[name]}")
            elif (streams := getattr(src, "streams", None)) is not None:
                out.append(f"device ok: {name}: " + ", ".join(
                    f"{s.name} ({s.device.model} s/n {s.device.serial})" for s in streams))
            else:
                ident = getattr(src, "identity", None)
                out.append(f"device ok: {name}" + (f" ({ident.model} s/n {ident.serial})" if ident else ""))
    return out


def walk(run: VisitRun, operator: VisitOperator, *, sign_off: str) -> SealedVisit:
    """Drive the runner to the seal (module docstring, 4-5); any way out of it seals what was recorded."""
    runner = run.runner
    try:
        operator.preflight(run)
        for line in device_lines(run):
            run.say(f"  {line}")
        while (step := runner.next_step) is not None or runner.state is RunnerState.step_review:
            run.check_stop()
            if step is None:  # the last step in review, accepted at close
                break
            operator.step(run, step)
        run.check_stop()
        return runner.close(SignOff(operator=sign_off))
    except VisitFailed:
        with contextlib.suppress(VisitFailed, Exception):
            run.session.close()  # releases the devices and the journal; nothing can be sealed
        raise
    except VisitStopped as exc:
        done = sum(item.record.status in ("done", "skipped") for item in runner.plan)
        with contextlib.suppress(Exception):  # as `record` does; the abort below is the audited decision
            run.session.operator_action("visit.stopped", reason=exc.reason, steps_completed=done,
                                        steps_total=len(runner.plan))
        run.say(f"visit: stopped ({exc.reason}) after {done} of {len(runner.plan)} steps; sealing what was recorded")
        return runner.abort(f"stopped: {exc.reason}")
    except PreflightBlocked as exc:
        run.say(f"visit: pre-flight blocked ({exc}); sealing what was recorded")
        runner.abort(f"pre-flight blocked: {exc}")
        raise
    except BaseException as exc:
        if runner.state not in (RunnerState.sealed, RunnerState.aborted, RunnerState.failed):
            with contextlib.suppress(Exception):
                runner.abort(f"interrupted: {type(exc).__name__}")
        raise


def run_visit(settings: AcqSettings, identity: VisitIdentity, *, rig: RigSources, protocol: ProtocolFile,
              operator: VisitOperator, decision: WindowDecision, calibration: Sequence[Mapping[str, Any]] = (),
              stop: threading.Event | None = None, stop_reason: Callable[[], str] | None = None,
              say: Callable[[str], None] = print, extra: Mapping[str, Any] | None = None) -> SealedVisit:
    """Open, audit, pre-flight, walk and seal one visit on `rig` (module docstring, 2-5). `decision`: from
    `check_window`, taken before (so a refusal claims nothing)."""
    session = open_visit(settings, identity, simulated=rig.simulated, protocol=protocol, calibration=calibration,
                         scan_encoder=encode_capture)
    try:
        trail = AuditTrail.for_visit(session)
        payload = decision.model_dump(mode="json")
        session.event("operator", EVENT_NAME, payload=payload)
        if decision.audit_action is not None:
            assert decision.override is not None
            v = decision.verdict
            trail.record(decision.audit_action, operator=decision.override.operator, payload={
                "reason": decision.override.reason, "refusal": v.reason.value if v.reason else "",
                "timing": v.timing, "days_outside": v.days_outside, "at_utc": decision.at_utc})
        gates = RigGates(settings, rig, visit_simulated=rig.simulated)
        runner = VisitRunner(session, protocol, audit=trail, sources=by_instrument(rig),  # type: ignore[arg-type]
                             preflight=gates)
    except BaseException:
        with contextlib.suppress(Exception):
            session.close()
        raise
    run = VisitRun(runner=runner, session=session, gates=gates, rig=rig, stop=stop or threading.Event(), say=say,
                   extra=dict(extra or {}))
    if stop_reason is not None:
        run.stop_reason = stop_reason
    elif isinstance(stop, StopRequest):
        run.stop_reason = lambda: stop.reason or "stop requested"
    return walk(run, operator, sign_off=identity.operator)
