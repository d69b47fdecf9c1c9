"""`SourceReader`: the thread that reads one `Source` (a driver, an LSL inlet, a replay) into the journal.

It calls `source.read(timeout)` in a loop, checks each chunk against the stream it claims (a chunk of an unknown
stream, or of the wrong width or dtype, is rejected: event + counter, never stored), appends it to the stream's
journal log, tells the session's delivery watch, and republishes it on the stream's LSL outlet (the live view,
optional: its failures are logged, never stop the record). State, backoff and the stop sequence: `reader_thread`.

A journal write failure ends the thread at once (`VisitFailed`): the visit is then `failed`, nothing more can be
stored. A chunk that a stuck, abandoned reader returns after the close gave it up is dropped with a log line: the
journal may be closed by then, and that is not this visit's failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from acquisition.chunk import Chunk
from acquisition.journal import JournalError, encode_chunk
from acquisition.source import Source
from acquisition.stream import StreamSpec
from sessions.reader_thread import ReaderContext, ReaderThread
from sessions.session_errors import VisitFailed, error_summary

__all__ = ["FINAL_DRAIN_S", "FINAL_READS", "SourceReader", "source_refusal"]

#: bounds of the reads made when a source stops, to collect what it still holds
FINAL_READS = 50
FINAL_DRAIN_S = 1.0


class SourceReader(ReaderThread):
    """Reads one opened `Source` on its own thread; `start()`, then `stop()` (joins, drains, closes) by its owner."""

    thread_prefix = "reader"

    def __init__(self, source: Source, ctx: ReaderContext, specs: list[StreamSpec], *, timeout_s: float,
                 publish: bool) -> None:
        super().__init__(source, ctx)
        self.specs: dict[str, StreamSpec] = {s.name: s for s in specs}
        self._timeout_s = timeout_s
        self.outlets: dict[str, Any] = {}
        if publish:
            from acquisition.lsl.outlet import StreamOutletView

            for spec in specs:
                try:
                    self.outlets[spec.name] = StreamOutletView(spec)
                except Exception as exc:  # noqa: BLE001 - the live view is optional, the record is not
                    self._log.warning("outlet.failed", stream=spec.name, error=str(exc))

    @property
    def stream_names(self) -> list[str]:
        return list(self.specs)

    def _run(self) -> None:
        """Ends when stopped, or at once if the journal fails (the visit is then `failed`)."""
        src = self.source
        try:
            while not self._stop.is_set():
                failed = False
                try:
                    chunks = src.read(self._timeout_s)
                except Exception as exc:  # noqa: BLE001 - reported, counted, retried with a backoff
                    failed, chunks = True, []
                    if not self.abandoned:
                        self._stop.wait(self._attempt_failed(exc, event_name="source.read_failed",
                                                             error=error_summary(exc)))
                if self.abandoned:  # given up by stop(): the journal may already be closed
                    self._log.error("chunks.dropped", source=src.name, n=sum(c.n for c in chunks),
                                    detail="read returned after the source was abandoned")
                    return
                if not failed:
                    self._attempt_succeeded()
                for ch in chunks:
                    self._accept(ch)
                self._drain_events()
                self.last_progress = self._ctx.clock()
        except VisitFailed:
            return

    def _final_reads(self, *, after_close: bool) -> int:
        """What the source still holds when recording stops (a driver's queue, an inlet's buffer): read without
        waiting until a read returns nothing, bounded in count and time, into the journal. Only called once the
        thread has ended, so the source is never read from two threads. After `close()` a read may legitimately
        refuse (an inlet without its stream): that ends the drain quietly."""
        if not self.specs:
            return 0
        n = 0
        deadline = self._ctx.clock() + FINAL_DRAIN_S
        for _ in range(FINAL_READS):
            try:
                chunks = self.source.read(0.0)
            except Exception as exc:  # noqa: BLE001
                if after_close:
                    self._log.debug("source.read_after_close", source=self.name, error=repr(exc))
                else:
                    self.errors += 1
                    self._log.error("source.read_failed", source=self.name, error=error_summary(exc), at="stop")
                    self._log.debug("source.read_failed_detail", source=self.name, error=repr(exc))
                break
            if not chunks:
                break
            for ch in chunks:
                self._accept(ch)
                n += ch.n
            if self._ctx.clock() >= deadline:
                break
        return n

    def _accept(self, ch: Chunk) -> None:
        spec = self.specs.get(ch.stream)
        problem = ""
        if spec is None:
            problem = f"unknown stream {ch.stream!r}"
        elif ch.data.shape[1] != spec.n_channels:
            problem = f"{ch.data.shape[1]} channels, spec says {spec.n_channels}"
        elif ch.data.dtype != spec.np_dtype:
            problem = f"dtype {ch.data.dtype}, spec says {spec.dtype}"
        if problem:
            self.chunks_rejected += 1
            self._log.error("chunk.rejected", source=self.name, problem=problem)
            self._ctx.event("device", "chunk.rejected", stream=ch.stream,
                            payload={"source": self.name, "problem": problem, "n": ch.n})
            return
        try:
            self._ctx.journal.log(f"streams/{ch.stream}").append(encode_chunk(ch))
        except (JournalError, OSError) as exc:
            if self.abandoned:  # a stuck reader that came back after stop() gave it up: not this visit's failure
                self._log.error("chunks.dropped", source=self.name, n=ch.n, error=str(exc))
                return
            raise self._ctx.journal_failed(exc) from None
        self._ctx.chunk_recorded(ch)
        outlet = self.outlets.get(ch.stream)
        if outlet is not None:
            try:
                outlet.push(ch)
            except Exception as exc:  # noqa: BLE001 - live view only
                self._log.warning("outlet.push_failed", stream=ch.stream, error=str(exc))

    def _close_outputs(self) -> None:
        for o in self.outlets.values():
            o.close()


def source_refusal(name: str, specs: Sequence[StreamSpec], recording: Iterable[SourceReader], *,
                   production: bool) -> str:
    """Why an opened source may not record in this visit ('' if it may): production mode refuses a source whose
    device identity says `simulated` (read from the device or its configuration, never guessed), and a stream
    already recorded by another source of the visit is refused."""
    if production and any(s.device.simulated for s in specs):
        return f"production mode refuses simulated source {name!r}"
    known = {n for r in recording for n in r.specs}
    for spec in specs:
        if spec.name in known:
            return f"stream {spec.name!r} of {name!r} is already recorded by another source"
    return ""
