"""What the pre-flight gates decide: one `GateResult` per gate, gathered in a `PreflightReport`.

Each gate is `pass`, `fail` or, once a technician took responsibility for a failure, `overridden` (with the reason,
the operator and the UTC time); a gate that does not concern this visit (no plate at W4, no LSL source) is
`not_applicable`, so the file lists every gate and a gate never run cannot be mistaken for one that passed.
A failed gate blocks the first step (`PreflightReport.blocking`) until it is overridden. The production gate can
never be overridden: a simulated or replayed source is never trial data, whoever says so.

Stored as `/qc/preflight` of the visit file (`sessions.preflight.record`), thresholds included, so the file says
what every gate was judged against.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from acquisition.clock import utc_iso
from sessions.subject import validate_operator

GateName = Literal["devices", "calibrations", "emg_rest_noise", "plate_unloaded", "lsl_clock", "disk_space",
                   "production_sources"]
#: the gates in the order they run and are shown
GATES: tuple[GateName, ...] = ("production_sources", "devices", "calibrations", "disk_space", "emg_rest_noise",
                               "plate_unloaded", "lsl_clock")
#: gates no override may lift
NOT_OVERRIDABLE: frozenset[str] = frozenset({"production_sources"})
GateStatus = Literal["pass", "fail", "overridden", "not_applicable"]
FORMAT = "amuse-preflight/1"
_MAX_DETAIL = 2000


class PreflightError(ValueError):
    """An override that cannot be made (unknown gate, a gate that did not fail, no reason): one line."""


class GateOverride(BaseModel):
    """Who lifted a failed gate, when, and why (the reason is the technician's; it goes into the file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(min_length=3, max_length=500)
    operator: str
    utc: str = Field(min_length=1)

    @field_validator("operator")
    @classmethod
    def _operator(cls, v: str) -> str:
        return validate_operator(v)

    @field_validator("reason")
    @classmethod
    def _one_line(cls, v: str) -> str:
        v = v.strip()
        if len(v) < 3 or "\n" in v or "\r" in v or not v.isprintable():
            raise ValueError("an override reason is one printable line of at least 3 characters")
        return v


class GateResult(BaseModel):
    """One gate's verdict: `detail` is one line for the technician; `measured` and `threshold` are plain JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: GateName
    status: GateStatus
    detail: str = Field(max_length=_MAX_DETAIL)
    measured: dict[str, Any] = Field(default_factory=dict)
    threshold: dict[str, Any] = Field(default_factory=dict)
    override: GateOverride | None = None

    @field_validator("detail", mode="before")
    @classmethod
    def _one_line(cls, v: object) -> object:
        """One line, and bounded: a gate failing on every one of 16 channels still fits (the channels are all in
        `measured`)."""
        if not isinstance(v, str):
            return v
        line = " ".join(v.split())
        return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 6] + " (...)"

    @property
    def blocking(self) -> bool:
        return self.status == "fail"


def gate(name: GateName, failures: list[str], ok_detail: str, *, measured: dict[str, Any],
         threshold: dict[str, Any]) -> GateResult:
    """`fail` with the failures joined in one line, else `pass` with `ok_detail`."""
    return GateResult(name=name, status="fail" if failures else "pass",
                      detail="; ".join(failures) if failures else ok_detail, measured=measured, threshold=threshold)


def not_applicable(name: GateName, why: str) -> GateResult:
    return GateResult(name=name, status="not_applicable", detail=why)


class PreflightReport(BaseModel):
    """The gates of one visit's pre-flight, in `GATES` order. `override` replaces a failed gate's result."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    format: Literal["amuse-preflight/1"] = FORMAT
    started_utc: str
    finished_utc: str
    production: bool
    gates: list[GateResult]

    def __getitem__(self, name: str) -> GateResult:
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"no pre-flight gate {name!r} (gates: {', '.join(g.name for g in self.gates)})")

    @property
    def blocking(self) -> list[GateResult]:
        """The gates that failed and were not overridden: the first step is refused while any is left."""
        return [g for g in self.gates if g.blocking]

    @property
    def passed(self) -> bool:
        return not self.blocking

    def override(self, name: str, reason: str, operator: str, *, utc: str | None = None) -> GateResult:
        """Lift the failed gate `name`: it becomes `overridden`, keeping its detail and measurements. Raises
        PreflightError for a gate that did not fail or may not be overridden, or an empty reason."""
        try:
            current = self[name]
        except KeyError as exc:
            raise PreflightError(exc.args[0]) from None
        if name in NOT_OVERRIDABLE:
            raise PreflightError(f"the {name} gate cannot be overridden: {current.detail}")
        if current.status != "fail":
            raise PreflightError(f"the {name} gate is {current.status}, not failed: nothing to override")
        try:
            ov = GateOverride(reason=reason, operator=operator, utc=utc or utc_iso())
        except ValidationError as exc:
            raise PreflightError(f"override of {name} refused: {exc.errors()[0]['msg']}") from None
        new = current.model_copy(update={"status": "overridden", "override": ov})
        self.gates = [new if g.name == name else g for g in self.gates]
        return new

    def summary(self) -> dict[str, str]:
        """gate -> status (the `preflight.recorded` event's payload)."""
        return {g.name: g.status for g in self.gates}
