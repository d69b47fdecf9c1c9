"""`RigGates`: the pre-flight gates of a visit run on a rig (the runner's `PreflightGates` contract).

Why an adapter of its own: the runner knows sources by protocol instrument, the gates know devices by the identity
the rig file expects (`ExpectedDevice`), and the rig file knows both. This is the one place they meet, so
`visit run`, the demo and the tests all judge a rig's devices the same way:

- every device of the rig file (a BITalino board by its stream, any other instrument by its source) is an
  `ExpectedDevice` with the serial the file expects, but only for the sources the visit uses (`ctx.instruments`:
  a W4 visit leaves the plate alone, so the plate is neither opened nor expected);
- `run(ctx)` takes the inputs from the opened sources (`collect_inputs`), judges them (`run_preflight`) and
  records the report in the visit (`record_preflight`, `/qc/preflight`); `override(...)` is `override_gate`
  (a refusal is a `PreflightError`, a `ValueError`, which the runner turns into `RunnerRefused`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence

from acquisition.clock import local_clock
from acquisition.config import AcqSettings
from sessions.preflight.devices import ExpectedDevice
from sessions.preflight.live import collect_inputs
from sessions.preflight.record import override_gate, record_preflight
from sessions.preflight.result import GateResult, PreflightReport
from sessions.preflight.runner import planned_steps, run_preflight
from sessions.rig.build import RigSources
from sessions.rig.config import BitalinoEmg
from sessions.runner.contracts import PreflightContext, PreflightReportLike

#: a rig file's instrument section -> the protocol instrument its source serves
PROTOCOL_INSTRUMENT = {"emg": "emg_jaw", "jaw": "emg_jaw", "plate": "stabilometry", "scanner": "scanner"}


def by_instrument(rig: RigSources) -> dict[str, list[object]]:
    """The rig's built sources per protocol instrument (`VisitRunner(sources=...)`)."""
    out: dict[str, list[object]] = {}
    for section, src in _sections(rig):
        out.setdefault(PROTOCOL_INSTRUMENT[section], []).append(src)
    return out


def _sections(rig: RigSources) -> list[tuple[str, object]]:
    """(rig section, built source) in `build_sources` order: emg, jaw, plate (those configured), then scanner."""
    cfg = rig.config
    sections = [s for s, entry in (("emg", cfg.emg), ("jaw", cfg.jaw), ("plate", cfg.plate)) if entry is not None]
    pairs: list[tuple[str, object]] = list(zip(sections, rig.sources, strict=True))
    if rig.scanner is not None:
        pairs.append(("scanner", rig.scanner))
    return pairs


def expected_devices(rig: RigSources, used: Mapping[str, str] | None = None) -> list[ExpectedDevice]:
    """Every device of the rig file with the serial it expects; `used` (source name -> protocol instrument): only
    the sources the visit opens (default all)."""
    out: list[ExpectedDevice] = []
    devices = {d.name: d for d in rig.config.devices()}
    for section, src in _sections(rig):
        name = str(getattr(src, "name"))
        if used is not None and name not in used:
            continue
        if section == "emg" and isinstance(rig.config.emg, BitalinoEmg):
            out += [ExpectedDevice(label=b.stream, stream=b.stream, source=name, serial=b.expected_serial)
                    for b in rig.config.emg.boards]
            continue
        dev = devices.get(section)
        out.append(ExpectedDevice(label=section, source=name, serial=dev.expected_serial if dev else None))
    return out


class RigGates:
    """The runner's `PreflightGates` for `rig` (docstring above). `at`: the visit's time (default: now, per run)."""

    def __init__(self, settings: AcqSettings, rig: RigSources, *, visit_simulated: bool,
                 replay_of: str | None = None, at: Callable[[], _dt.datetime] | None = None,
                 clock: Callable[[], float] = local_clock) -> None:
        self._settings, self._rig = settings, rig
        self._simulated, self._replay_of = visit_simulated, replay_of
        self._at = at or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self._clock = clock
        #: the newest report (after a run or an override), for the technician's view
        self.report: PreflightReport | None = None

    def run(self, ctx: PreflightContext) -> PreflightReport:
        inputs = collect_inputs(self._settings, sources=ctx.sources, scanners=ctx.scanners,
                                expected=expected_devices(self._rig, ctx.instruments),
                                steps=planned_steps(ctx.steps), open_errors=ctx.open_errors,
                                visit_simulated=self._simulated, replay_of=self._replay_of, at=self._at(),
                                clock=self._clock)
        report = run_preflight(inputs, settings=self._settings)
        record_preflight(ctx.session, report)
        self.report = report
        return report

    def override(self, ctx: PreflightContext, report: PreflightReportLike, gate: str, reason: str,
                 operator: str) -> GateResult:
        assert isinstance(report, PreflightReport)
        return override_gate(ctx.session, report, gate, reason, operator)


def gate_lines(report: PreflightReportLike | None) -> Sequence[str]:
    """One line per gate of a report (`name: status: detail`), for the technician."""
    if not isinstance(report, PreflightReport):
        return []
    return [f"{g.name}: {g.status}: {g.detail}" for g in report.gates]
