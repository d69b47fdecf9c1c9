"""A reader thread of the session, one per source (`SourceReader`) or scanner (`ScanReader`): what they share.

Why a class that owns its thread: the session kept a bag of fields per source (thread, stop flag, counters,
outlets) and read, stopped and closed them from its own methods, so who may touch a port, and when, was spread
over hundreds of lines. A reader owns its thread (`start`; `stop` sets its `threading.Event` and joins it), and
its state, which only it changes (a read-only property):

- `running`: the last read (or poll) returned;
- `degraded`: the last one raised: one `source.read_failed` (scanner: `scanner.poll_failed`) event for the run of
  failures, then retried after a short wait;
- `failed`: it kept raising (`FAIL_AFTER` in a row): one `source.failed` event, then retried with an exponential
  backoff (`BACKOFF_FIRST_S` doubling up to `BACKOFF_MAX_S`), not an event every 0.2 s. The first read that
  returns again gives one `source.recovered` event and `running`. Every failed read is counted (`read_errors`);
- `stopped`: its thread ended and its source is closed. A thread that does not end within `STOP_JOIN_S` is
  abandoned: its source is left open (never closed under a thread still reading it), reported, and what it
  returns later is dropped; its state stays `failed`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from acquisition.chunk import Chunk
from acquisition.events import SOURCE_STOPPED, Event
from acquisition.journal import Journal
from acquisition.source import StepAware, emits_pseudonymous_names, keeps_event_steps
from sessions.privacy import scrub_names
from sessions.session_errors import SessionError, error_summary

__all__ = ["BACKOFF_FIRST_S", "BACKOFF_MAX_S", "FAIL_AFTER", "SOURCE_FAILED", "SOURCE_RECOVERED", "STOP_JOIN_S",
           "ReaderContext", "ReaderState", "ReaderThread", "plain_counters"]

SOURCE_FAILED = "source.failed"  # reads kept failing: retried with a backoff (payload "failures", "error")
SOURCE_RECOVERED = "source.recovered"  # the first read that returned after failures (payload "outage_s")

#: consecutive failed reads that make a source `failed` (one or two are a glitch: `degraded`)
FAIL_AFTER = 3
#: wait after the first failed read; doubled at each next one, up to `BACKOFF_MAX_S`
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0
#: how long `stop` waits for the thread before abandoning it
STOP_JOIN_S = 5.0


class ReaderState(str, Enum):
    running = "running"
    degraded = "degraded"
    failed = "failed"
    stopped = "stopped"


@dataclass(frozen=True)
class ReaderContext:
    """What a reader needs from its session, as callables: the session keeps its journal, timeline and failure
    handling to itself, and a test can give a reader a fake one."""

    clock: Callable[[], float]
    log: Any  # the session's structlog logger
    journal: Journal
    event: Callable[..., Event]  # SessionManager.event: journal an event (raises VisitFailed)
    journal_event: Callable[[Event], None]  # journal a source's own event as it is
    step_at: Callable[[float], str]  # the protocol step in force at an LSL time
    current_step: Callable[[], str]
    journal_failed: Callable[[BaseException], SessionError]  # marks the visit failed; returns what to raise
    visit_failed: Callable[[], bool]
    chunk_recorded: Callable[[Chunk], None]  # a chunk reached the journal: delivery watch, alerts


class ReaderThread:
    """The thread, stop event, state, failure backoff, progress and stop sequence of one reader."""

    thread_prefix = "reader"

    def __init__(self, source: Any, ctx: ReaderContext) -> None:
        self.source = source
        self._ctx = ctx
        self._log = ctx.log
        # pseudonymise file/folder names in its event payloads unless it declares it does not need it
        self._scrub = not emits_pseudonymous_names(source)
        # a replay's events carry their recorded step ("" included): never re-tagged by the replay's timing
        self._tag_steps = not keeps_event_steps(source)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{self.thread_prefix}:{source.name}", daemon=True)
        self._state = ReaderState.running
        self._failures = 0  # consecutive failed reads
        self._failing_since = 0.0
        self._wait_s = 0.0  # the backoff in force (0 while running): a wait is not a stall
        self.errors = 0  # failed reads, all counted (`read_errors` in the counters)
        self.chunks_rejected = 0
        self.abandoned = False  # its thread would not stop: never read or closed from another thread
        self.closed = False  # source (and outlets) closed
        self.last_progress = ctx.clock()

    # -- state (read-only outside) -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.source.name)

    @property
    def state(self) -> ReaderState:
        return self._state

    def _set_state(self, state: ReaderState) -> None:
        self._state = state

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def stream_names(self) -> list[str]:
        return []

    def progressing(self, now: float, max_age_s: float) -> bool:
        """The thread is alive and went round its loop within `max_age_s` (plus the backoff it is waiting)."""
        return self._thread.is_alive() and now - self.last_progress < max_age_s + self._wait_s

    def status(self, now: float) -> dict[str, Any]:
        return {"streams": self.stream_names, "counters": dict(self.source.counters()), "errors": self.errors,
                "chunks_rejected": self.chunks_rejected, "since_progress_s": round(now - self.last_progress, 3),
                "state": self._state.value}

    def tell_step(self, step: str, duration_s: float) -> None:
        """Tell a `StepAware` source (a simulated patient) the protocol step; its failure never stops a visit."""
        if not isinstance(self.source, StepAware):
            return
        try:
            self.source.set_step(step, duration_s)
        except Exception as exc:  # noqa: BLE001 - a simulated patient, never worth stopping a visit
            self._log.warning("source.set_step_failed", source=self.name, error=error_summary(exc))

    # -- thread ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end (it does at its next turn); `stop` or `release` joins it."""
        self._stop.set()

    def _run(self) -> None:
        raise NotImplementedError

    # -- failures and backoff (called by the reader's own thread) ------------------------------------
    def _attempt_failed(self, exc: BaseException, *, event_name: str, error: str) -> float:
        """Count a failed read, report the run of failures once (and once more if it persists); return how long
        to wait before the next attempt."""
        self.errors += 1
        self._failures += 1
        # `error` is what the record may hold (the type and errno, `error_summary`); the full text: DEBUG only
        self._log.debug(f"{event_name}_detail", source=self.name, error=repr(exc))
        payload = {"source": self.name, "error": error}
        if self._failures == 1:
            self._failing_since = self._ctx.clock()
            self._set_state(ReaderState.degraded)
            self._log.error(event_name, source=self.name, error=error)
            self._ctx.event("device", event_name, payload=payload)
        elif self._failures == FAIL_AFTER:
            self._set_state(ReaderState.failed)
            self._log.error(SOURCE_FAILED, source=self.name, error=error, failures=self._failures)
            self._ctx.event("device", SOURCE_FAILED,
                            payload={**payload, "failures": self._failures, "retry_max_s": BACKOFF_MAX_S})
        else:
            self._log.debug(event_name, source=self.name, error=error, failures=self._failures)
        self._wait_s = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** (self._failures - 1))
        return self._wait_s

    def _attempt_succeeded(self) -> None:
        if not self._failures:
            return
        failures, outage = self._failures, self._ctx.clock() - self._failing_since
        self._failures, self._wait_s = 0, 0.0
        self._set_state(ReaderState.running)
        self._log.info(SOURCE_RECOVERED, source=self.name, failures=failures, outage_s=round(outage, 3))
        self._ctx.event("device", SOURCE_RECOVERED,
                        payload={"source": self.name, "failures": failures, "outage_s": round(outage, 3)})

    # -- the source's own events -----------------------------------------------------------------------
    def _drain_events(self) -> None:
        try:
            evs = self.source.drain_events()
        except Exception as exc:  # noqa: BLE001
            self._log.error("source.events_failed", source=self.name, error=error_summary(exc))
            return
        for ev in evs:
            if not ev.step and self._tag_steps:  # the step in force when it happened, not when it was collected
                step = self._ctx.step_at(ev.t_lsl)
                if step:
                    ev = ev.model_copy(update={"step": step})
            if self._scrub:
                ev = ev.model_copy(update={"payload": scrub_names(ev.payload)})
            self._ctx.journal_event(ev)

    # -- stopping (called by the owner, never by the reader's thread) ------------------------------------
    def _final_reads(self, *, after_close: bool) -> int:
        """What the source still holds once its thread ended; samples recorded (a scanner holds none)."""
        return 0

    def _close_outputs(self) -> None:
        """Close what the reader publishes to (LSL outlets)."""

    def stop(self) -> None:
        """Stop event -> join the thread -> final reads -> close -> reads of what close handed over ->
        `source.stopped` (the end of the streams' recording window). Samples a source still holds at stop reach
        the file (the BITalino's QC said 55655 frames with 55635 stored). A port is never closed, nor read, under
        a thread still reading it: a thread that does not end is abandoned, reported, its source left open."""
        self._stop.set()
        self._thread.join(timeout=STOP_JOIN_S)
        drained = 0
        streams = self.stream_names
        if self._thread.is_alive():
            self.abandoned = True
            self._set_state(ReaderState.failed)
            self._log.error("source.stop_timeout", source=self.name, detail="reader thread did not end")
            self._ctx.event("device", "source.stop_timeout", stream=",".join(streams),
                            payload={"source": self.name, "detail": f"reader thread did not end within "
                                     f"{STOP_JOIN_S:g} s: the source is left open and what it still held is not "
                                     "recorded"})
        else:
            drained += self._final_reads(after_close=False)
            try:
                self.source.close()
            except Exception as exc:  # noqa: BLE001
                self._log.error("source.close_failed", source=self.name, error=error_summary(exc))
            drained += self._final_reads(after_close=True)
            self._set_state(ReaderState.stopped)
        self._drain_events()
        self._close_outputs()
        self.closed = True
        self._ctx.event("device", SOURCE_STOPPED, stream=",".join(streams),
                        payload={"source": self.name, "streams": streams, "drained_at_stop": drained,
                                 "counters": dict(self.source.counters())})

    def release(self) -> None:
        """After a journal failure (nothing more can be recorded): join the thread, close the source and outlets,
        journal nothing. Call `request_stop` on every reader first, so that they all stop together."""
        self._stop.set()
        self._thread.join(timeout=STOP_JOIN_S)
        if self._thread.is_alive():
            self.abandoned = True
            self._set_state(ReaderState.failed)
            self._log.error("source.stop_timeout", source=self.name, detail="left open: its reader is stuck")
            return
        if self.closed:
            return
        self.closed = True
        try:
            self.source.close()
        except Exception as exc:  # noqa: BLE001
            self._log.error("source.close_failed", source=self.name, error=error_summary(exc))
        self._close_outputs()
        self._set_state(ReaderState.stopped)


def plain_counters(counters: Mapping[str, Any]) -> dict[str, Any]:
    """A source's counters as plain JSON values (a driver may count in numpy integers)."""
    return {str(k): v.item() if isinstance(v, np.generic) else v for k, v in counters.items()}
