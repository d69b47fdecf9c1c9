"""`VisitRunner`: one visit walked through its protocol, a state machine driving the `SessionManager`
(docs/protocol.md: the states, the rules, the refusals, the QC).

Why a state machine of its own over the session manager: the manager records whatever it is told (steps, events,
sources); the runner decides what may be told, in which order, and keeps every attempt and decision. So the
manager stays the one writer of the record, and a visit's protocol is enforced in one place, whether a technician
drives it from the terminal, the service's API or the demo's automatic operator. A refusal (`RunnerRefused`, with a
`Refusal` code) changes nothing. Every action is an audit entry first; what cannot be audited is not done (except an
abort, which seals anyway and raises after, and a gate override, audited once the gates decided). Every decision
is in the file: events on the timeline and `/qc/protocol_run` (`records.RunRecord`), recorded after each one. One
operator thread drives a runner; a lock makes a stray call from another thread (a note) wait its turn.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from acquisition.clock import utc_iso
from acquisition.lslenv import local_clock
from acquisition.source import ScanSource, Source
from sessions.manager import SealedVisit, SessionManager
from sessions.protocol import DEVICE_INSTRUMENTS, ProtocolFile, ProtocolStep
from sessions.runner.contracts import (Audit, AuditTrailLike, PreflightContext, PreflightGates, PreflightReportLike,
                                       as_gates)
from sessions.runner.errors import Refusal, RunnerRefused
from sessions.runner.guards import StateGuards
from sessions.runner.journal_tail import JournalTail
from sessions.runner.plan_book import PlanBook, PlanItem
from sessions.runner.preflight_phase import PreflightPhase
from sessions.runner.qc_judge import AttemptJudge
from sessions.runner.records import (NOTE_ADDED, PROTOCOL_RUN_QC, STEP_ACCEPTED, STEP_CHOSEN, STEP_QC, STEP_REPEATED,
                                     STEP_SKIPPED, VISIT_ABORTED, VISIT_SIGNED_OFF, AbortRecord, Attempt, Note,
                                     RunnerState, RunRecord, SignOff, SignOffRecord, StepRecord, StepVerdict)
from sessions.runner.texts import note_text, reason_text
from sessions.session_errors import SessionError, VisitFailed
from sessions.subject import validate_operator

__all__ = ["PREFLIGHT_STEP", "PlanItem", "VisitRunner"]

PREFLIGHT_STEP = "preflight"  # the session step the device checks are recorded under


class VisitRunner:
    def __init__(self, session: SessionManager, protocol: ProtocolFile, *, audit: Audit | AuditTrailLike,
                 sources: Mapping[str, Sequence[Source | ScanSource]] | None = None,
                 preflight: PreflightGates | Callable[[PreflightContext], PreflightReportLike] | None = None,
                 clock: Callable[[], float] = local_clock, sleep: Callable[[float], None] = time.sleep) -> None:
        """`session`: opened with this `protocol` (`SessionManager.open(..., protocol=protocol)`), so its file
        carries the protocol's hash. `sources`: per instrument (`scanner`, `emg_jaw`, `stabilometry`), not yet
        opened (those of an instrument no step of this visit uses are left alone). `preflight`: the gates (production mode requires them). `audit`: the trail's `record`, or the trail
        itself (`record` and `close`: its closing entry is written just before the seal). `clock`: the session's."""
        if session.protocol is None or session.protocol.sha256 != protocol.sha256:
            found = "none" if session.protocol is None else session.protocol.label()
            raise RunnerRefused(Refusal.protocol_mismatch, f"visit {session.key} was opened with protocol {found}, "
                                f"not {protocol.label()}: open it with protocol= so its file records the hash")
        if unknown := sorted(set(sources or {}) - set(DEVICE_INSTRUMENTS)):
            raise ValueError(f"sources given for unknown instrument(s) {', '.join(unknown)}; expected "
                             f"{', '.join(DEVICE_INSTRUMENTS)}")
        gates = as_gates(preflight)
        if gates is None and session.settings.production:
            raise SessionError("production mode runs the pre-flight gates before the first step: none were given")
        self._session, self._protocol, self._clock = session, protocol, clock
        self._audit_fn: Audit = audit.record if isinstance(audit, AuditTrailLike) else audit
        self._audit_close = audit.close if isinstance(audit, AuditTrailLike) else None
        self._operator = session.identity.operator
        self._book = PlanBook(protocol.protocol.for_visit(session.identity.visit))
        self._run = RunRecord(protocol=protocol.stamp().model_dump(), visit=session.identity.visit.value, steps=[])
        self._run.steps = self._book.records  # the same records: the book's changes are the run's
        self._state = RunnerState.opened
        self._duration: float | None = None  # the duration asked at start, reused by a repeat
        used = {s.instrument for s in self._book.steps}  # a W4 visit leaves the plate alone: no step uses it
        self._phase = PreflightPhase(session, {i: v for i, v in (sources or {}).items() if i in used}, gates,
                                     self._book.steps)
        self._guard = StateGuards(state=lambda: self._state, key=session.key, book=self._book, phase=self._phase)
        self._judge = AttemptJudge(JournalTail(session.store.journal_dir(session.key)), protocol.protocol,
                                   clock=clock, sleep=sleep)
        self._lock = threading.RLock()
        self.sealed: SealedVisit | None = None

    # -- views ----------------------------------------------------------------------------------------------------
    @property
    def state(self) -> RunnerState:
        return self._state

    @property
    def plan(self) -> list[PlanItem]:
        with self._lock:
            return self._book.items()

    @property
    def current(self) -> PlanItem | None:
        """The step running or in review (None between steps)."""
        with self._lock:
            return self._book.item(self._book.index) if self._guard.in_step() else None

    @property
    def next_step(self) -> ProtocolStep | None:
        i = self._book.next_pending()
        return None if i is None else self._book.steps[i]

    @property
    def blocking_gates(self) -> list[str]:
        """`gate: detail` of each pre-flight gate that blocks the first step."""
        return self._phase.blocking_details()

    @property
    def record(self) -> RunRecord:
        return self._run.model_copy(deep=True)

    # -- pre-flight -----------------------------------------------------------------------------------------------
    def preflight(self) -> list[str]:
        """Open the sources, run the gates; the blocking gates' names (empty: ready for the first step). Run again
        after fixing a device while blocked."""
        with self._acting():
            self._guard.require(RunnerState.opened, RunnerState.preflight)
            self._audit("preflight.started", {"devices": sorted(self._phase.instrument_of)})
            if self._state is RunnerState.opened:
                self._session.start_step(PREFLIGHT_STEP)
                self._state = RunnerState.preflight
            blocking = self._phase.run()
            summary = getattr(self._phase.report, "summary", None)
            self._audit("preflight.judged", {"blocking": blocking, "open_errors": sorted(self._phase.open_errors),
                                             "gates": summary() if callable(summary) else {}})
            if not blocking:
                self._ready()
            else:
                self._run.preflight = "blocked"
                self._save()
            return blocking

    def override(self, gate: str, reason: str, *, operator: str | None = None) -> list[str]:
        """Lift the failed `gate` (reason and operator go into `/qc/preflight`); the gates still blocking."""
        with self._acting():
            self._guard.require(RunnerState.preflight)
            why, who = reason_text(reason, "override"), validate_operator(operator or self._operator)
            if gate not in self._phase.blocking():
                raise RunnerRefused(Refusal.override_refused, f"gate {gate!r} is not blocking (blocking: "
                                    f"{', '.join(self._phase.blocking()) or 'none'})")
            try:  # audited once the gates decided (only they know which gate may be lifted): taken or refused
                self._phase.override(gate, why, who)
            except ValueError as exc:
                refusal = str(exc).splitlines()[0]
                self._audit("gate.override_refused", {"gate": gate, "reason": why, "error": refusal[:500]},
                            operator=who)
                raise RunnerRefused(Refusal.override_refused, refusal) from None
            self._audit("gate.overridden", {"gate": gate, "reason": why}, operator=who)
            if not (left := self._phase.blocking()):
                self._ready()
            return left

    def _ready(self) -> None:
        self._phase.join()
        self._session.end_step()
        self._run.preflight = "none" if self._phase.report is None else "passed"
        self._run.device_errors = {**self._phase.open_errors, **self._phase.join_errors}
        self._state = RunnerState.ready
        self._save()

    # -- steps ----------------------------------------------------------------------------------------------------
    def start_step(self, name: str | None = None, *, duration_s: float | None = None) -> PlanItem:
        """Start the next step of the plan (`name`, if given, must be it). A step in review whose QC passed is
        accepted first. `duration_s`: told to simulated patients (default the step's nominal length)."""
        with self._acting():
            self._guard.steps_allowed()
            review = self._guard.passed_review("start the next step")  # checked before anything changes
            i = self._book.next_pending(after_review=review is not None)
            if i is None:
                raise RunnerRefused(Refusal.nothing_left, "every step of the plan is done or skipped: close the visit")
            if name is not None and name != self._book.steps[i].name:
                self._book.refuse_out_of_order(name, i)
            if review is not None:
                self._accept(*review, "")
            self._duration = duration_s
            self._begin_attempt(i)
            return self.current  # type: ignore[return-value]

    def end_step(self) -> StepVerdict:
        """End the running step: its QC verdict (stored in `/qc` and on the timeline); the step is then in review."""
        with self._acting():
            if self._state is not RunnerState.step_running:
                self._guard.not_over()
                raise RunnerRefused(Refusal.no_step_running, f"no step is running (state {self._state.value})")
            step, rec = self._book.step, self._book.record
            att = rec.attempts[-1]
            self._audit("step.ended", {"step": step.name, "attempt": att.attempt})
            verdict = self._finish_attempt(step, att)
            rec.status = "review"
            self._state = RunnerState.step_review
            self._save()
            return verdict

    def repeat(self) -> PlanItem:
        """Run the step in review again: a new attempt (the previous ones are kept)."""
        with self._acting():
            rec = self._guard.in_review("repeat")
            prev = rec.attempts[-1].attempt
            self._audit("step.repeated", {"step": rec.name, "attempt": prev, "next_attempt": prev + 1})
            rec.attempts[-1].outcome = "repeated"
            self._session.event("operator", STEP_REPEATED, step=rec.name,
                                payload={"attempt": prev, "next_attempt": prev + 1})
            self._begin_attempt(self._book.index)
            return self.current  # type: ignore[return-value]

    def choose(self, attempt: int) -> None:
        """Mark `attempt` of the step in review as the one the analysis uses (default the last)."""
        with self._acting():
            rec = self._guard.in_review("choose an attempt")
            if rec.attempt(attempt) is None:
                raise RunnerRefused(Refusal.unknown_attempt, f"step {rec.name} has attempts "
                                    f"{[a.attempt for a in rec.attempts]}, not {attempt}")
            self._audit("step.chosen", {"step": rec.name, "attempt": attempt})
            rec.chosen = attempt
            self._session.event("operator", STEP_CHOSEN, step=rec.name, payload={"attempt": attempt})
            self._save()

    def accept(self, reason: str = "") -> PlanItem:
        """Accept the step in review (its chosen attempt); a failed QC needs a reason."""
        with self._acting():
            rec = self._guard.in_review("accept")
            chosen = self._book.chosen(rec)
            assert chosen.verdict is not None
            why = reason_text(reason, "accepting a failed step") if not chosen.verdict.passed else (
                reason_text(reason, "accept") if reason.strip() else "")
            self._accept(rec, chosen, why)
            return self._book.item(self._book.index)

    def skip(self, reason: str, *, step: str | None = None) -> str:
        """Skip the step in review (its attempts kept), or else the next one: recorded as skipped with `reason`.
        `step`, if given, must be that step (a UI confirms what it skips). Returns its name."""
        with self._acting():
            self._guard.steps_allowed()
            if self._state is RunnerState.step_review:
                i = self._book.index
            elif (i := self._book.next_pending()) is None:
                raise RunnerRefused(Refusal.nothing_left, "every step of the plan is done or skipped: close the visit")
            rec = self._book.records[i]
            if step is not None and step != rec.name:
                what = "in review" if self._state is RunnerState.step_review else "next"
                raise RunnerRefused(Refusal.out_of_order, f"the step {what} is {rec.name}, not {step}: only it can "
                                    "be skipped now")
            why = reason_text(reason, "skip")
            self._audit("step.skipped", {"step": rec.name, "reason": why, "attempts": len(rec.attempts)})
            self._book.mark_skipped(rec, why)
            self._session.event("operator", STEP_SKIPPED, step=rec.name,
                                payload={"reason": why, "attempts": len(rec.attempts)})
            self._state = RunnerState.ready
            self._save()
            return rec.name

    def note(self, text: str, *, step: str | None = None) -> Note:
        """A note on `step` (any step of the plan; default the step running or in review, else the visit)."""
        with self._acting():
            self._guard.not_over()
            body = note_text(text)
            if step is None and self._guard.in_step():
                step = self._book.step.name
            rec = None if step is None else self._book.find(step)
            attempt = rec.attempts[-1].attempt if rec is not None and rec.status in ("running", "review") else None
            digest = hashlib.sha256(body.encode()).hexdigest()
            self._audit("note.added", {"step": step or "", "attempt": attempt, "text_sha256": digest,
                                       "chars": len(body)})
            note = Note(text=body, operator=self._operator, utc=utc_iso(), t_lsl=self._clock(), attempt=attempt)
            (rec.notes if rec is not None else self._run.notes).append(note)
            self._session.event("operator", NOTE_ADDED, step=step or "", payload={"text": body, "attempt": attempt})
            self._save()
            return note

    # -- the end --------------------------------------------------------------------------------------------------
    def close(self, sign_off: SignOff) -> SealedVisit:
        """Sign off and seal: every step done or skipped (a passed step in review is accepted)."""
        with self._acting():
            self._guard.steps_allowed()
            review = self._guard.passed_review("close the visit")
            if pending := self._book.pending():
                raise RunnerRefused(Refusal.steps_remaining, f"{len(pending)} step(s) not done: {', '.join(pending)}; "
                                    "run or skip each (with a reason), or abort the visit")
            if review is not None:  # nothing else can refuse now (an audit failure leaves it accepted, audited)
                self._accept(*review, "")
            t, utc = self._clock(), utc_iso()
            done = sum(r.status == "done" for r in self._book.records)
            skipped = [r.name for r in self._book.records if r.status == "skipped"]
            self._audit("visit.signed_off", {"steps_done": done, "steps_skipped": skipped}, operator=sign_off.operator)
            self._state = RunnerState.closing
            self._run.sign_off = SignOffRecord(operator=sign_off.operator, utc=utc, t_lsl=t)
            self._run.outcome = "completed"
            self._session.event("operator", VISIT_SIGNED_OFF, t_lsl=t, payload={
                "operator": sign_off.operator, "utc": utc, "steps_done": done, "steps_skipped": skipped})
            self._save()
            return self._seal(RunnerState.sealed, sign_off.operator)

    def abort(self, reason: str, *, operator: str | None = None) -> SealedVisit:
        """Stop the visit: the step running ends (its attempt judged and kept), what was recorded is sealed."""
        with self._acting():
            self._guard.not_over()
            why, who = reason_text(reason, "abort"), validate_operator(operator or self._operator)
            audit_error: Exception | None = None
            step = self._book.step.name if self._guard.in_step() else ""
            try:
                self._audit("visit.aborted", {"reason": why, "step": step}, operator=who)
            except Exception as exc:  # noqa: BLE001 - what was recorded is sealed anyway, then this is raised
                audit_error = exc
            if self._state is RunnerState.step_running:
                try:
                    self._finish_attempt(self._book.step, self._book.record.attempts[-1])
                except VisitFailed:
                    raise
                except Exception as exc:  # noqa: BLE001 - the audit of its verdict: sealed anyway, raised after
                    audit_error = audit_error or exc
            if self._guard.in_step():
                rec = self._book.record
                rec.status, rec.attempts[-1].outcome = "aborted", "aborted"
            self._phase.release()
            t = self._clock()
            self._run.abort = AbortRecord(reason=why, operator=who, utc=utc_iso(), t_lsl=t, step=step)
            self._run.outcome = "aborted"
            self._session.event("operator", VISIT_ABORTED, t_lsl=t, payload={"reason": why, "operator": who,
                                                                               "step": step})
            self._save()
            sealed = self._seal(RunnerState.aborted, who)
            if audit_error is not None:
                raise audit_error
            return sealed

    # -- internals ------------------------------------------------------------------------------------------------
    @contextmanager
    def _acting(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except VisitFailed:
                self._state = RunnerState.failed
                raise

    def _audit(self, action: str, payload: Mapping[str, Any], *, operator: str | None = None) -> None:
        self._audit_fn(action, operator=operator or self._operator, payload=dict(payload), t_lsl=self._clock())

    def _save(self) -> None:
        self._session.record_qc(PROTOCOL_RUN_QC, self._run.model_dump(mode="json"))

    def _seal(self, final: RunnerState, operator: str) -> SealedVisit:
        """The audit chain's closing entry, then the seal; a chain that cannot be closed does not stop the seal
        (`audit verify` reports it truncated): its error is raised once the file is sealed."""
        audit_error: Exception | None = None
        if self._audit_close is not None:
            try:
                self._audit_close(operator=operator)
            except VisitFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - raised after the seal
                audit_error = exc
        try:
            sealed = self._session.close()
        except Exception:
            self._state = RunnerState.failed
            raise
        self._state, self.sealed = final, sealed
        if audit_error is not None:
            raise audit_error
        return sealed

    def _begin_attempt(self, i: int) -> None:
        step, rec = self._book.steps[i], self._book.records[i]
        n = len(rec.attempts) + 1
        self._audit("step.started", {"step": step.name, "attempt": n})
        self._judge.begin(step)
        t0 = self._session.start_step(step.name, repetition=n,
                                      duration_s=step.total_s if self._duration is None else self._duration)
        rec.attempts.append(Attempt(attempt=n, t_start=t0, utc_start=utc_iso()))
        rec.status, self._book.index, self._state = "running", i, RunnerState.step_running
        self._save()

    def _finish_attempt(self, step: ProtocolStep, att: Attempt) -> StepVerdict:
        if step.instrument == "scanner":
            self._judge.wait_for_scans(step)
        t1 = self._session.end_step()
        t1 = self._clock() if t1 is None else t1
        verdict = self._judge.judge(step, att.t_start, t1, streams=self._phase.streams.get(step.instrument, []),
                                    sources=self._phase.source_names.get(step.instrument, []))
        att.t_end, att.utc_end, att.verdict = t1, utc_iso(), verdict
        self._session.event("qc", STEP_QC, step=step.name, payload={
            "attempt": att.attempt, "passed": verdict.passed, "failures": verdict.failures})
        self._audit("step.judged", {"step": step.name, "attempt": att.attempt, "passed": verdict.passed,
                                    "failed_checks": [f"{c.check}:{c.stream}" if c.stream else c.check
                                                      for c in verdict.checks if c.status == "fail"]})
        return verdict

    def _accept(self, rec: StepRecord, chosen: Attempt, why: str) -> None:
        self._audit("step.accepted", {"step": rec.name, "attempt": chosen.attempt, "reason": why})
        self._book.mark_accepted(rec, chosen, why)
        self._session.event("operator", STEP_ACCEPTED, step=rec.name, payload={
            "attempt": chosen.attempt, "passed": bool(chosen.verdict and chosen.verdict.passed), "reason": why})
        self._state = RunnerState.ready
        self._save()
