"""Visit windows: may this subject's visit be opened now? W4, W12 and W24 are due D0 + 28, 84 and 168 days, each
7 days early or late at most (settings `visit_windows`, `acquisition.visit_window_config`; docs/visits.md).

The rule (`check_visit_window`) answers from the visit list of the data directory (`sessions.visit_list`: the
files are the truth, there is no second database) and an injected time `at`, never the wall clock. A refusal is
typed (`RefusalReason`) and says in one line which window and which dates:

- `already_recorded`: the visit's file `DATA_DIR/<key>.h5` exists (sealed, recovered, a replay, or a file the
  reader refuses): a visit file is never overwritten, so no override applies. A visit listed in
  `MANIFEST.sha256` whose file is gone is also `already_recorded`, but overridable: recording it again is then
  a second recording of the same visit, a deviation someone must own;
- `already_open`: it has an unsealed recording under `.open/` (being recorded, recovered, or left by a crash):
  `recover` or `abandon` it first; no override applies;
- `no_d0`: a follow-up visit whose subject has no sealed D0 in this data directory (none, still open, a replay,
  unreadable). Overridable (a D0 recorded elsewhere);
- `before_d0`: `at` is earlier than the D0 file's `started_utc`. Overridable (a wrong PC clock must be owned);
- `out_of_window`: early or late by N days past the window's edge. Overridable.

D0's date is the sealed D0 file's `started_utc`, converted to the site's calendar (`visit_windows.timezone`,
default UTC): days are counted between local dates (why: `acquisition.visit_window_config`). A replay
(`replay_of` set) is never the subject's D0, nor any visit of the subject: it is not trial data.

An override (`WindowOverride`: operator and reason) turns an overridable refusal into an accepted opening;
`require_window` returns the `WindowDecision` the runner writes into the visit file and the audit trail. An
abandoned or unrecoverable earlier attempt does not refuse (`abandon` freed the code, on the record): the
decision lists it in `previous_attempts`.
"""

from __future__ import annotations

import datetime as _dt
from enum import Enum
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from acquisition.config import AcqSettings
from acquisition.log import get_logger
from acquisition.visit_window_config import DEFAULT_WINDOWS, VisitWindowSettings, WindowSpec
from sessions.subject import validate_operator

if TYPE_CHECKING:
    from sessions.visit_list import VisitList

__all__ = [
    "AUDIT_ACTION_OVERRIDE", "DEFAULT_WINDOWS", "EVENT_NAME", "RefusalReason", "VisitWindowRefused", "VisitWindowSettings", "Window", "WindowDecision",
    "WindowOverride", "WindowSpec", "WindowVerdict", "check_visit_window", "local_date", "parse_utc",
    "require_window", "window_for",
]

#: what the runner names the check in the visit file's events and in the audit trail
EVENT_NAME = "visit.window_checked"
AUDIT_ACTION_OVERRIDE = "visit_window.overridden"
_REASON_MAX = 500


class VisitWindowRefused(Exception):
    """Opening the visit is refused by the window rule; `verdict` says why. One line; `code` 2 (refused input)."""

    code = 2

    def __init__(self, verdict: "WindowVerdict", *, override_given: bool = False) -> None:
        self.verdict = verdict
        tail = ""
        if verdict.overridable and not override_given:
            tail = "; to open it anyway, give --override REASON (recorded with your operator id)"
        elif override_given and not verdict.overridable:
            tail = "; an override does not apply to this refusal"
        super().__init__(verdict.message + tail)


class RefusalReason(str, Enum):
    BEFORE_D0 = "before_d0"
    NO_D0 = "no_d0"
    OUT_OF_WINDOW = "out_of_window"
    ALREADY_RECORDED = "already_recorded"
    ALREADY_OPEN = "already_open"


def parse_utc(text: str) -> _dt.datetime:
    """A stored `...Z` UTC time (`acquisition.clock.utc_iso`) as an aware datetime; ValueError if it is not one."""
    when = _dt.datetime.fromisoformat(text)
    if when.tzinfo is None or when.utcoffset() != _dt.timedelta(0):
        raise ValueError(f"{text!r} is not a UTC time (expected a 'Z' suffix)")
    return when


def _aware(at: _dt.datetime) -> _dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time {at.isoformat()} has no time zone: pass an aware datetime (UTC)")
    return at


def _window_settings(settings: AcqSettings | VisitWindowSettings) -> VisitWindowSettings:
    return settings.visit_windows if isinstance(settings, AcqSettings) else settings


def local_date(when: _dt.datetime, settings: AcqSettings | VisitWindowSettings) -> _dt.date:
    """The date of `when` on the site's calendar (`visit_windows.timezone`)."""
    return _aware(when).astimezone(_window_settings(settings).zone).date()


class Window(BaseModel):
    """A follow-up visit's window, as dates of the site's calendar (`first` to `last`, both included)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    visit: str
    d0_started_utc: str
    d0_date: _dt.date
    due: _dt.date
    first: _dt.date
    last: _dt.date
    due_days: int
    early_days: int
    late_days: int
    timezone: str

    def contains(self, day: _dt.date) -> bool:
        return self.first <= day <= self.last

    def outside_by(self, day: _dt.date) -> int:
        """0 inside the window; days before its first day (negative) or after its last day (positive)."""
        if day < self.first:
            return (day - self.first).days
        if day > self.last:
            return (day - self.last).days
        return 0

    def describe(self) -> str:
        """'2026-03-25 to 2026-04-08 (due 2026-04-01: D0 2026-01-07 + 84 days, -7/+7, UTC calendar)'."""
        return (f"{self.first} to {self.last} (due {self.due}: D0 {self.d0_date} + {self.due_days} days, "
                f"-{self.early_days}/+{self.late_days}, {self.timezone} calendar)")


def window_for(visit: str, d0_started_utc: str, settings: AcqSettings | VisitWindowSettings) -> Window | None:
    """The window of follow-up `visit` for a D0 started at `d0_started_utc`; None for D0 (or an unknown code).
    Raises ValueError if `d0_started_utc` is not a UTC time."""
    ws = _window_settings(settings)
    spec = ws.spec(visit)
    if spec is None:
        return None
    d0 = local_date(parse_utc(d0_started_utc), ws)
    due = d0 + _dt.timedelta(days=spec.due_days)
    return Window(visit=visit, d0_started_utc=d0_started_utc, d0_date=d0, due=due,
                  first=due - _dt.timedelta(days=spec.early_days), last=due + _dt.timedelta(days=spec.late_days),
                  due_days=spec.due_days, early_days=spec.early_days, late_days=spec.late_days,
                  timezone=ws.timezone)


class WindowVerdict(BaseModel):
    """The answer of `check_visit_window`. `ok` False: `reason` and `message` (one line) say why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    visit: str
    at_utc: str = Field(description="the time the opening was judged at (UTC)")
    at_date: _dt.date = Field(description="that time's date on the site's calendar")
    timezone: str
    ok: bool
    reason: RefusalReason | None = None
    overridable: bool = False
    timing: Literal["early", "late"] | None = Field(None, description="out_of_window: which side")
    days_outside: int | None = Field(None, description="out_of_window: days past the window's edge (> 0)")
    days_from_due: int | None = Field(None, description="at_date minus the due date (negative: before it)")
    window: Window | None = None
    d0_file: str | None = Field(None, description="the sealed D0 file the window counts from")
    previous_attempts: list[str] = Field(default_factory=list,
                                         description="abandoned / unrecoverable earlier attempts (where they are)")
    message: str


def validate_override_reason(value: object) -> str:
    """An override's reason is one printable line of 3-500 characters (read by people in the audit trail)."""
    if not isinstance(value, str) or len(value.strip()) < 3:
        raise ValueError("override reason must say why the window rule is overridden (at least 3 characters)")
    if len(value) > _REASON_MAX:
        raise ValueError(f"override reason is {len(value)} characters long; at most {_REASON_MAX} allowed")
    if not value.isprintable():
        raise ValueError(f"override reason {value!r} contains a newline or a control character")
    return value.strip()


class WindowOverride(BaseModel):
    """`--override REASON` with the operator who gives it. No patient-identifying text in the reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str
    operator: str

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        return validate_override_reason(v)

    @field_validator("operator")
    @classmethod
    def _operator(cls, v: str) -> str:
        return validate_operator(v)


class WindowDecision(BaseModel):
    """What `require_window` let through: the verdict, and the override if one was needed and used. The runner
    writes it (`model_dump(mode="json")`) as the payload of the visit's `visit.window_checked` event and, when
    `overridden`, of an audit entry `visit_window.overridden`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    visit: str
    at_utc: str
    overridden: bool
    verdict: WindowVerdict
    override: WindowOverride | None = Field(None, description="only when it was used (`overridden`)")

    @property
    def audit_action(self) -> str | None:
        """The audit action to record, None when nothing was overridden."""
        return AUDIT_ACTION_OVERRIDE if self.overridden else None


def _utc_text(at: _dt.datetime) -> str:
    return at.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_visit_window(subject: str, visit: str, *, at: _dt.datetime, visits: "VisitList",
                       settings: AcqSettings | VisitWindowSettings) -> WindowVerdict:
    """May `subject`'s `visit` be opened at `at`, given the data directory's `visits`? Never raises for a
    refusal: the verdict says it (see the module docstring for every reason and which are overridable)."""
    ws = _window_settings(settings)
    at = _aware(at)
    key = f"{subject}_{visit}"
    base: dict[str, object] = {"subject": subject, "visit": visit, "at_utc": _utc_text(at), "at_date": local_date(at, ws),
            "timezone": ws.timezone,
            "previous_attempts": [e.where for e in visits.at(subject, visit) if e.is_set_aside]}

    def verdict(**fields: object) -> WindowVerdict:
        return WindowVerdict.model_validate({**base, **fields})

    def refused(reason: RefusalReason, message: str, *, overridable: bool, **extra: object) -> WindowVerdict:
        return verdict(ok=False, reason=reason, overridable=overridable, message=message, **extra)

    here = visits.at(subject, visit)
    if (f := next((e for e in here if e.holds_name), None)) is not None:
        what = f"a replay of {f.replay_of}" if f.replay_of else f"state {f.state.value}"
        return refused(RefusalReason.ALREADY_RECORDED, f"visit {key} is already recorded in {f.where} ({what}); "
                       "a visit file is never overwritten", overridable=False)
    if (o := next((e for e in here if e.is_open), None)) is not None:
        return refused(RefusalReason.ALREADY_OPEN, f"visit {key} has an unsealed recording in {o.where} "
                       f"({o.state.value}); seal it with `amuse-acq recover` or set it aside with "
                       "`amuse-acq abandon` first", overridable=False)
    if (m := next((e for e in here if e.is_missing), None)) is not None:
        return refused(RefusalReason.ALREADY_RECORDED, f"visit {key} is listed in MANIFEST.sha256 as sealed but "
                       f"its file {m.where} is missing; recording it again is a second recording of the visit",
                       overridable=True)
    if ws.spec(visit) is None:  # D0: the anchor, no window
        return verdict(ok=True, message=f"visit {key}: D0 has no window")
    d0 = visits.trial_visit(subject, "D0")
    if d0 is None or d0.started_utc is None:
        return refused(RefusalReason.NO_D0, f"visit {key} cannot be placed in its window: {visits.why_no_d0(subject)}",
                       overridable=True)
    window = window_for(visit, d0.started_utc, ws)
    assert window is not None  # ws.spec(visit) is not None
    day = local_date(at, ws)
    extra = {"window": window, "d0_file": d0.where, "days_from_due": (day - window.due).days}
    if at < parse_utc(d0.started_utc):
        return refused(RefusalReason.BEFORE_D0, f"visit {key} at {_utc_text(at)} is before the subject's D0, "
                       f"started {d0.started_utc} ({d0.where}); {visit} window {window.describe()}",
                       overridable=True, **extra)
    off = window.outside_by(day)
    if off:
        timing: Literal["early", "late"] = "early" if off < 0 else "late"
        return refused(RefusalReason.OUT_OF_WINDOW, f"visit {key} on {day} is {abs(off)} day(s) {timing}: the "
                       f"{visit} window is {window.describe()}", overridable=True, timing=timing,
                       days_outside=abs(off), **extra)
    return verdict(ok=True, message=f"visit {key} on {day} is in its window {window.describe()}", **extra)


def require_window(subject: str, visit: str, *, at: _dt.datetime, visits: "VisitList",
                   settings: AcqSettings | VisitWindowSettings,
                   override: WindowOverride | None = None) -> WindowDecision:
    """The guard the open path calls before claiming a visit: the decision to record if the opening may go on,
    else `VisitWindowRefused` (one line naming the window and the dates). An override lets an overridable
    refusal through (`overridden`); it is ignored (not recorded as used) when the visit is in its window."""
    verdict = check_visit_window(subject, visit, at=at, visits=visits, settings=settings)
    log = get_logger("visit_window", visit=f"{subject}_{visit}")
    if verdict.ok:
        if override is not None:
            log.info("visit_window.override_unused", operator=override.operator)
        return WindowDecision(subject=subject, visit=visit, at_utc=verdict.at_utc, overridden=False, verdict=verdict)
    if override is None or not verdict.overridable:
        log.warning("visit_window.refused", reason=verdict.reason.value if verdict.reason else None,
                    override_given=override is not None)
        raise VisitWindowRefused(verdict, override_given=override is not None)
    log.warning("visit_window.overridden", reason=verdict.reason.value if verdict.reason else None,
                operator=override.operator)
    return WindowDecision(subject=subject, visit=visit, at_utc=verdict.at_utc, overridden=True, verdict=verdict,
                          override=override)
