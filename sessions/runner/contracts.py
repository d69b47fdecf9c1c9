"""What the runner is given, as small contracts: the audit trail, the pre-flight gates, the sources.

Why contracts and not imports: the audit trail (`sessions.audit`), the gates (`sessions.preflight`) and the rig
(`sessions.rig`, which builds the sources) are built beside the runner; each plugs in through one of these, and a
test passes a fake.

- `Audit`: `AuditTrail.record(action, *, operator, payload, t_lsl=None)`, or the trail itself (`AuditTrailLike`:
  its `close` is called just before the seal). Every runner action is one entry (payload keys per the trail's
  rules: `step`, `attempt`, `gate`, `reason`...; the visit is the trail's chain, not a payload field); a
  note's text is not copied into it (a note is free commentary, the likeliest place for a patient's name to
  slip in, and the audit also goes to a daily log across visits): its SHA-256 and length are, so the entry still
  pins the note stored in the visit file.
- `PreflightGates`: `run(ctx)` measures and judges every gate on the opened sources, records the report in the
  session (`/qc/preflight`) and returns it; `override(ctx, report, gate, reason, operator)` lifts one failed gate
  and records the report again. The runner only reads `report.blocking` (the gates still failing, each with
  `name` and `detail`). A plain callable `ctx -> report` is accepted too (`CallableGates`: no override).
- Sources: per protocol instrument (`scanner`, `emg_jaw`, `stabilometry`), the `Source`s and `ScanSource`s of
  the rig, not yet opened: the runner opens them before the gates (which read them directly, before any reader
  thread does) and hands them to the session once the gates pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from acquisition.source import ScanSource, Source

if TYPE_CHECKING:
    from sessions.manager import SessionManager
    from sessions.protocol import ProtocolStep


class Audit(Protocol):
    def __call__(self, action: str, *, operator: str, payload: Mapping[str, Any],
                 t_lsl: float | None = None) -> object: ...


@runtime_checkable
class AuditTrailLike(Protocol):
    """`sessions.audit.AuditTrail`: `record` each action, `close` the visit's chain before the seal."""

    def record(self, action: str, *, operator: str, payload: Mapping[str, Any], t_lsl: float | None = None) -> object:
        ...

    def close(self, *, operator: str = "system") -> object: ...


class GateLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def detail(self) -> str: ...


class PreflightReportLike(Protocol):
    @property
    def blocking(self) -> Sequence[GateLike]: ...


@dataclass(frozen=True)
class PreflightContext:
    """What the gates are run on: the session (settings, data directory, `record_qc`), the opened sources and
    scanners, the rig's devices that failed to open (source name -> one-line error), the visit's planned steps."""

    session: SessionManager
    sources: Sequence[Source]
    scanners: Sequence[ScanSource]
    open_errors: Mapping[str, str]
    steps: Sequence[ProtocolStep]
    instruments: Mapping[str, str] = field(default_factory=dict)  # source name -> protocol instrument


@runtime_checkable
class PreflightGates(Protocol):
    def run(self, ctx: PreflightContext) -> PreflightReportLike: ...

    def override(self, ctx: PreflightContext, report: PreflightReportLike, gate: str, reason: str,
                 operator: str) -> object: ...


class OverrideUnsupported(ValueError):
    """The gates given to the runner cannot be overridden."""


@dataclass(frozen=True)
class CallableGates:
    """A plain `ctx -> report` as `PreflightGates`, without overrides."""

    run_gates: Callable[[PreflightContext], PreflightReportLike]

    def run(self, ctx: PreflightContext) -> PreflightReportLike:
        return self.run_gates(ctx)

    def override(self, ctx: PreflightContext, report: PreflightReportLike, gate: str, reason: str,
                 operator: str) -> object:
        raise OverrideUnsupported("these pre-flight gates cannot be overridden")


def as_gates(preflight: PreflightGates | Callable[[PreflightContext], PreflightReportLike] | None
             ) -> PreflightGates | None:
    if preflight is None or isinstance(preflight, PreflightGates):
        return preflight
    return CallableGates(preflight)

