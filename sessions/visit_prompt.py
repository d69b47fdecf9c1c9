"""The technician at the terminal: `visit run` without `--auto` (rich: live view, prompts).

Per step: its title and instructions, a countdown of its nominal duration, each source's live frame rate and
flags (faults counted since the step began: gaps, samples lost, disconnects...), then the QC verdict, check by
check, and the decision: on a passed step accept (Enter), repeat, note, skip; on a failed one repeat, accept
with a reason, note, skip with a reason, or choose an earlier attempt. A device step ends when its countdown
reaches zero or on Enter; a manual or scanner step on Enter (the scanner's captures are waited for by the
runner). Pre-flight: every gate is shown; a failed one is overridden with a reason, run again after fixing the
device, or the visit is aborted.

The terminal is read with `select` between refreshes (POSIX), so no thread waits on stdin for ever.
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sessions.protocol import ProtocolStep
from sessions.runner import RunnerRefused, StepVerdict
from sessions.visit_run import PreflightBlocked, StopRequest, VisitRun, VisitStopped

#: the counters that count a fault, flagged in the live view when they grow during the step
_FAULTS = ("gaps", "samples_lost", "crc_errors", "disconnects", "reconnects", "stalls", "resyncs")


def _line_ready(stream: TextIO, timeout: float) -> bool:
    try:
        ready, _, _ = select.select([stream], [], [], timeout)
    except (ValueError, OSError):  # not a selectable file (a test's StringIO): it has its lines already
        return True
    return bool(ready)


class PromptOperator:
    """The interactive operator (module docstring). `console`/`stdin`: injectable for tests."""

    def __init__(self, *, console: Console | None = None, stdin: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, stop: StopRequest | None = None) -> None:
        self.console = console or Console()
        self.stdin = stdin or sys.stdin
        self.clock = clock
        self.stop = stop  # SIGTERM / Ctrl-C set it: a prompt waiting for an answer gives up at once

    def _readline(self) -> str:
        """One line of input; `VisitStopped` as soon as a stop is requested while waiting (a signal handler only
        sets the flag, and Python resumes a blocking `readline` after it: a service stop would wait for Enter)."""
        while self.stop is not None and not _line_ready(self.stdin, 0.2):
            if self.stop.is_set():
                raise VisitStopped(self.stop.reason or "stop requested")
        if self.stop is not None and self.stop.is_set():
            raise VisitStopped(self.stop.reason or "stop requested")
        return self.stdin.readline()

    def ask(self, question: str, *, choices: list[str] | None = None, default: str | None = None) -> str:
        """One answer read from the terminal; asked again until valid. The end of the input (the terminal
        closed) is a stop request: the visit is aborted and sealed, never left waiting on nobody."""
        shown = question + (f" [{'/'.join(choices)}]" if choices else "") + (f" ({default})" if default else "")
        while True:
            self.console.print(f"{shown}: ", end="", markup=False, highlight=False)
            line = self._readline()
            if not line:
                raise VisitStopped("end of input")
            answer = line.strip() or (default or "")
            if answer and (choices is None or answer in choices):
                return answer
            self.console.print(f"  expected one of {', '.join(choices)}" if choices else "  an answer is needed",
                               markup=False)

    # -- pre-flight --------------------------------------------------------------------------------------------
    def preflight(self, run: VisitRun) -> None:
        blocking = run.runner.preflight()
        while True:
            self._show_gates(run)
            if not blocking:
                return
            what = self.ask("a gate blocks the first step: [o]verride, [r]un again, [a]bort",
                            choices=["o", "r", "a"], default="r")
            if what == "a":
                raise PreflightBlocked(self.ask("why abort") or "aborted at pre-flight")
            if what == "r":
                blocking = run.runner.preflight()
                continue
            gate = self.ask("which gate", choices=blocking, default=blocking[0])
            try:
                blocking = run.runner.override(gate, self.ask(f"why override {gate} (recorded with your login)"))
            except RunnerRefused as exc:
                self.console.print(f"[red]refused:[/red] {exc}")

    def _show_gates(self, run: VisitRun) -> None:
        table = Table(title="pre-flight", show_lines=False)
        for col in ("gate", "status", "detail"):
            table.add_column(col)
        colour = {"pass": "green", "fail": "red", "overridden": "yellow", "not_applicable": "dim"}
        for g in (run.report.gates if run.report is not None else []):
            table.add_row(g.name, Text(g.status, style=colour.get(g.status, "")), g.detail)
        self.console.print(table)

    # -- steps -------------------------------------------------------------------------------------------------
    def step(self, run: VisitRun, step: ProtocolStep) -> None:
        run.runner.start_step(step.name)
        attempt = 1
        while True:
            verdict = self._live(run, step, attempt)
            self._show_verdict(step, verdict)
            decided = self._decide(run, step, verdict)
            if decided:
                return
            attempt += 1

    def _decide(self, run: VisitRun, step: ProtocolStep, verdict: StepVerdict) -> bool:
        """True when the step is done or skipped; False when it is repeated (a new attempt is running)."""
        while True:
            default = "a" if verdict.passed else "r"
            what = self.ask("[a]ccept, [r]epeat, [n]ote, [s]kip, [c]hoose an attempt",
                            choices=["a", "r", "n", "s", "c"], default=default)
            try:
                if what == "a":
                    run.runner.accept("" if verdict.passed else self.ask("why accept a failed step"))
                    return True
                if what == "r":
                    run.runner.repeat()
                    return False
                if what == "n":
                    run.runner.note(self.ask("note (no patient names)"))
                elif what == "s":
                    run.runner.skip(self.ask(f"why skip {step.name}"), step=step.name)
                    return True
                else:
                    run.runner.choose(int(self.ask("attempt number", default="1")))
            except (RunnerRefused, ValueError) as exc:
                self.console.print(f"[red]refused:[/red] {str(exc).splitlines()[0]}")

    def _live(self, run: VisitRun, step: ProtocolStep, attempt: int) -> StepVerdict:
        t0, nominal = self.clock(), step.total_s
        timed = step.instrument in ("emg_jaw", "stabilometry") and nominal > 0
        before = self._counters(run)
        last, last_t = before, t0
        rates: dict[str, float] = {}
        with Live(console=self.console, refresh_per_second=4, transient=True) as live:
            while True:
                run.check_stop()
                now = self.clock()
                counters = self._counters(run)
                dt = max(now - last_t, 1e-6)
                rates = {s: (c.get("frames", 0) - last.get(s, {}).get("frames", 0)) / dt for s, c in counters.items()}
                last, last_t = counters, now
                live.update(self._view(run, step, attempt, now - t0, timed, rates, before, counters))
                if timed and now - t0 >= nominal:
                    break
                if _line_ready(self.stdin, 0.5):
                    self.stdin.readline()
                    break
        return run.runner.end_step()

    @staticmethod
    def _counters(run: VisitRun) -> dict[str, dict[str, Any]]:
        return {name: dict(s.get("counters", {})) for name, s in run.session.status()["sources"].items()}

    def _view(self, run: VisitRun, step: ProtocolStep, attempt: int, elapsed: float, timed: bool,
              rates: dict[str, float], before: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> Panel:
        plan = run.runner.plan
        index = next((i for i, p in enumerate(plan) if p.step.name == step.name), 0) + 1
        countdown = (f"{max(0.0, step.total_s - elapsed):5.1f} s left of {step.total_s:g} s (Enter ends it)" if timed
                     else f"{elapsed:5.1f} s (Enter when done)")
        table = Table(box=None)
        for col in ("source", "frames/s", "flags"):
            table.add_column(col)
        for name, c in sorted(now.items()):
            grown = [f"{k} +{c.get(k, 0) - before.get(name, {}).get(k, 0)}" for k in _FAULTS
                     if c.get(k, 0) > before.get(name, {}).get(k, 0)]
            table.add_row(name, f"{rates.get(name, 0.0):7.1f}", Text(", ".join(grown) or "ok",
                                                                     style="red" if grown else "green"))
        title = f"step {index}/{len(plan)}: {step.name}" + (f" (attempt {attempt})" if attempt > 1 else "")
        return Panel(Group(Text(step.title, style="bold"), Text(step.instructions), Text(countdown), table),
                     title=title)

    def _show_verdict(self, step: ProtocolStep, verdict: StepVerdict) -> None:
        table = Table(title=f"{step.name}: QC {'passed' if verdict.passed else 'FAILED'}")
        for col in ("check", "stream", "status", "detail"):
            table.add_column(col)
        colour = {"pass": "green", "fail": "red", "not_judged": "dim"}
        for c in verdict.checks:
            table.add_row(c.check, c.stream, Text(c.status, style=colour[c.status]), c.detail)
        self.console.print(table)


__all__ = ["PromptOperator", "VisitStopped"]
