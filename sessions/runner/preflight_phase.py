"""The runner's pre-flight phase: open the rig's sources, run the gates on them, lift failed gates, and hand the
sources to the session once nothing blocks.

Why the sources join the session only after the gates: the gates read the opened devices directly (a few seconds
of EMG at rest, the unloaded plate, the LSL clock offsets), and a source has one reader; once the session's
reader thread reads it nobody else may. So a failed gate can be run again (`run`) after the technician fixed a
device: the sources that opened stay open, those that did not are tried again. A source that cannot be opened is
reported to the gates (`open_errors`: the devices gate fails on it) and, if that is overridden, the visit goes on
without it: its steps then fail their QC ("no stream ... is recording") and the technician skips them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from acquisition.source import ScanSource, Source, SourceError
from acquisition.stream import StreamSpec
from sessions.manager import SessionManager
from sessions.protocol import ProtocolStep
from sessions.runner.contracts import PreflightContext, PreflightGates, PreflightReportLike
from sessions.session_errors import SessionError, VisitFailed, error_summary


def _one_line(exc: BaseException) -> str:
    """A source's refusal is written to be shown (`SourceError`); anything else by its type and errno only."""
    if isinstance(exc, (SourceError, SessionError)):
        return (str(exc).splitlines() or [type(exc).__name__])[0]
    return error_summary(exc)


class PreflightPhase:
    """`sources`: protocol instrument -> the rig's sources and scanners for it (not opened)."""

    def __init__(self, session: SessionManager, sources: Mapping[str, Sequence[Source | ScanSource]],
                 gates: PreflightGates | None, steps: Sequence[ProtocolStep]) -> None:
        self._session = session
        self._gates = gates
        self._steps = list(steps)
        self._all: list[tuple[str, Source | ScanSource]] = [(inst, s) for inst, srcs in sources.items() for s in srcs]
        self._opened: dict[str, Source | ScanSource] = {}
        self.instrument_of: dict[str, str] = {s.name: inst for inst, s in self._all}
        self.open_errors: dict[str, str] = {}
        self.join_errors: dict[str, str] = {}
        self.report: PreflightReportLike | None = None
        self.joined = False
        #: what each instrument records once joined: its streams and its sources' names
        self.streams: dict[str, list[StreamSpec]] = {inst: [] for inst, _ in self._all}
        self.source_names: dict[str, list[str]] = {inst: [] for inst, _ in self._all}

    def context(self) -> PreflightContext:
        opened = list(self._opened.values())
        return PreflightContext(session=self._session, sources=[s for s in opened if isinstance(s, Source)],
                                scanners=[s for s in opened if not isinstance(s, Source)],
                                open_errors=dict(self.open_errors), steps=self._steps,
                                instruments=dict(self.instrument_of))

    def run(self) -> list[str]:
        """Open what is not open yet, run the gates; the names of the gates that block (none: ready)."""
        for _inst, src in self._all:
            if src.name in self._opened:
                continue
            try:
                src.open()
            except Exception as exc:  # noqa: BLE001 - any device may fail its way; reported, never fatal here
                self.open_errors[src.name] = _one_line(exc)
                continue
            self.open_errors.pop(src.name, None)
            self._opened[src.name] = src
        if self._gates is None:
            self.report = None
            return []
        self.report = self._gates.run(self.context())
        return self.blocking()

    def blocking(self) -> list[str]:
        return [] if self.report is None else [g.name for g in self.report.blocking]

    def blocking_details(self) -> list[str]:
        return [] if self.report is None else [f"{g.name}: {g.detail}" for g in self.report.blocking]

    def override(self, gate: str, reason: str, operator: str) -> None:
        assert self._gates is not None and self.report is not None
        self._gates.override(self.context(), self.report, gate, reason, operator)

    def join(self) -> None:
        """Hand every opened source to the session (its reader starts; the session closes it from now on)."""
        for inst, src in self._all:
            if src.name not in self._opened:
                continue
            try:
                if isinstance(src, Source):
                    self.streams[inst] += self._session.add_source(src, opened=True)
                else:
                    self._session.add_scanner(src, opened=True)
                self.source_names[inst].append(src.name)
            except VisitFailed:
                raise
            except SessionError as exc:  # refused (production and a simulated device, a scanner without encoder)
                self.join_errors[src.name] = _one_line(exc)
                _close_quietly(src)
        self._opened.clear()
        self.joined = True

    def release(self) -> None:
        """Close the sources opened here and not handed to the session (a visit aborted in pre-flight)."""
        for src in self._opened.values():
            _close_quietly(src)
        self._opened.clear()


def _close_quietly(src: Source | ScanSource) -> None:
    try:
        src.close()  # idempotent by contract
    except Exception:  # noqa: BLE001 - closing what the runner opened; nothing more can be done with it
        pass
