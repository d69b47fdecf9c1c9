"""Settings of the visit windows: when W4, W12 and W24 are due after D0, how early or late each may be, and on
which calendar the days are counted.

A section of `AcqSettings` (`[visit_windows]`, `[visit_windows.W12]` in the TOML file, or `AMUSE_VISIT_WINDOWS` as
JSON). It lives here, not in `sessions/`, because `AcqSettings` holds it and `acquisition` imports nothing above
it; the rule that uses it is `sessions.visit_windows`, documented in docs/visits.md.

Defaults (trial registry NCT07326033, docs/visits.md): W4 = D0 + 28 days, W12 = D0 + 84, W24 = D0 + 168, each
7 days early or late at most. A site that sets one number of one visit keeps the defaults of the rest
(`[visit_windows.W12] late_days = 10` leaves its `due_days` at 84).

The calendar: days are counted between the *local dates* of D0 and of the visit in the site's time zone
(`timezone`, an IANA name; default `UTC`). A visit window is a clinical appointment rule, read by a technician
on the exam room's calendar: with UTC days, a D0 at 00:30 in Paris (23:30 UTC the day before) would move every
window one day early at the edges. The default stays UTC so a site that sets nothing gets the same answer on
every machine; an exam room sets its zone (`timezone = "Europe/Paris"`) once.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: the follow-up visits that have a window, and their defaults (days after D0, days early, days late)
DEFAULT_WINDOWS: dict[str, tuple[int, int, int]] = {"W4": (28, 7, 7), "W12": (84, 7, 7), "W24": (168, 7, 7)}


class WindowSpec(BaseModel):
    """One follow-up visit's window: due `due_days` after D0, from `early_days` before to `late_days` after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    due_days: int = Field(ge=1, le=3660, description="days after D0 the visit is due")
    early_days: int = Field(ge=0, le=365, description="at most this many days before the due date")
    late_days: int = Field(ge=0, le=365, description="at most this many days after the due date")

    @property
    def first_day(self) -> int:
        """The window's first day, in days after D0."""
        return self.due_days - self.early_days

    @property
    def last_day(self) -> int:
        """The window's last day, in days after D0."""
        return self.due_days + self.late_days


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA time zone this machine knows, else raise ValueError saying so."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {name!r} is not a known IANA time zone name (e.g. UTC, Europe/Paris)") from None
    return name


class VisitWindowSettings(BaseModel):
    """The windows of W4, W12 and W24 and the calendar their days are counted on (docs/visits.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = Field(default="UTC", description="IANA time zone of the site's calendar, on which visit days "
                                                     "are counted (UTC, Europe/Paris...)")
    W4: WindowSpec = Field(description="week 4 visit")
    W12: WindowSpec = Field(description="week 12 visit")
    W24: WindowSpec = Field(description="week 24 visit")

    @model_validator(mode="before")
    @classmethod
    def _defaults_per_visit(cls, data: Any) -> Any:
        """Fill each visit's missing numbers with that visit's own defaults (one number set, the rest kept)."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for code, (due, early, late) in DEFAULT_WINDOWS.items():
            given = out.get(code, {})
            if isinstance(given, dict):
                out[code] = {"due_days": due, "early_days": early, "late_days": late, **given}
        return out

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return check_timezone(v)

    @model_validator(mode="after")
    def _in_order(self) -> "VisitWindowSettings":
        """Windows follow each other without overlapping: a date belongs to one visit's window at most."""
        w4, w12, w24 = self.W4, self.W12, self.W24
        if w4.first_day < 1:
            raise ValueError(f"visit_windows: W4's window starts {w4.first_day} day(s) after D0; it must start "
                             "after D0 (due_days - early_days >= 1)")
        for (a, wa), (b, wb) in ((("W4", w4), ("W12", w12)), (("W12", w12), ("W24", w24))):
            if wa.last_day >= wb.first_day:
                raise ValueError(f"visit_windows: {a}'s window (days {wa.first_day}-{wa.last_day} after D0) "
                                 f"overlaps or touches {b}'s (days {wb.first_day}-{wb.last_day})")
        return self

    def spec(self, visit: str) -> WindowSpec | None:
        """The window of follow-up visit `visit` (W4, W12, W24); None for D0, which has none (it is the anchor)."""
        return {"W4": self.W4, "W12": self.W12, "W24": self.W24}.get(visit)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)
