"""The visit window rule: every boundary (the window's first and last day in, one day past either out), before D0,
no D0 (none, open, a replay), a second visit, an override recorded; on the site's calendar, at injected times."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from acquisition.config import AcqSettings
from acquisition.visit_window_config import VisitWindowSettings
from sessions.visit_list import list_visits
from sessions.visit_windows import (
    RefusalReason,
    VisitWindowRefused,
    WindowDecision,
    WindowOverride,
    check_visit_window,
    require_window,
)
from tests.sessions.visit_dirs import abandoned, open_visit, sealed

D0_UTC = "2026-01-07T09:00:00.000000Z"
D0_DAY = dt.date(2026, 1, 7)
UTC = dt.timezone.utc
S = VisitWindowSettings()


def _at(day: dt.date, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def with_d0(tmp_path: Path) -> Path:
    sealed(tmp_path, "ABC-001", "D0", D0_UTC)
    return tmp_path


@pytest.mark.parametrize("visit,due_days", [("W4", 28), ("W12", 84), ("W24", 168)])
def test_every_boundary(with_d0: Path, visit: str, due_days: int) -> None:
    visits = list_visits(with_d0)
    due = D0_DAY + dt.timedelta(days=due_days)
    # the first and the last day of the window, at the first and the last second of the day: in
    for day, hms in ((due - dt.timedelta(days=7), (0, 0, 0)), (due + dt.timedelta(days=7), (23, 59, 59)),
                     (due, (12, 0, 0))):
        v = check_visit_window("ABC-001", visit, at=_at(day, *hms), visits=visits, settings=S)
        assert v.ok, v.message
        assert v.window is not None and v.window.due == due
        assert v.days_from_due == (day - due).days
        assert v.d0_file == "ABC-001_D0.h5"
    # one day before the first, one day after the last: out, by exactly 1 day, on the right side
    for day, hms, timing in ((due - dt.timedelta(days=8), (23, 59, 59), "early"),
                             (due + dt.timedelta(days=8), (0, 0, 0), "late")):
        v = check_visit_window("ABC-001", visit, at=_at(day, *hms), visits=visits, settings=S)
        assert not v.ok and v.reason is RefusalReason.OUT_OF_WINDOW
        assert v.timing == timing and v.days_outside == 1 and v.overridable
        assert v.days_from_due == (day - due).days
        w = v.window
        assert w is not None
        assert w.first == due - dt.timedelta(days=7) and w.last == due + dt.timedelta(days=7)
        assert str(w.first) in v.message and str(w.last) in v.message and str(day) in v.message
        assert f"1 day(s) {timing}" in v.message and "\n" not in v.message


def test_far_out_of_window_counts_days_past_the_edge(with_d0: Path) -> None:
    v = check_visit_window("ABC-001", "W12", at=_at(dt.date(2026, 5, 1)), visits=list_visits(with_d0), settings=S)
    # W12 due 2026-04-01, last day 2026-04-08: 2026-05-01 is 23 days past it, 30 from due
    assert (v.reason, v.timing, v.days_outside, v.days_from_due) == (RefusalReason.OUT_OF_WINDOW, "late", 23, 30)


def test_before_d0(with_d0: Path) -> None:
    visits = list_visits(with_d0)
    for at in (dt.datetime(2026, 1, 7, 8, 59, 59, tzinfo=UTC), dt.datetime(2025, 12, 1, tzinfo=UTC)):
        v = check_visit_window("ABC-001", "W4", at=at, visits=visits, settings=S)
        assert not v.ok and v.reason is RefusalReason.BEFORE_D0 and v.overridable
        assert D0_UTC in v.message and "2026-01-28 to 2026-02-11" in v.message
    # after D0's start, on D0's day: not before D0, but early for W4 (21 days before its window)
    v = check_visit_window("ABC-001", "W4", at=dt.datetime(2026, 1, 7, 9, 0, 1, tzinfo=UTC), visits=visits,
                           settings=S)
    assert (v.reason, v.timing, v.days_outside) == (RefusalReason.OUT_OF_WINDOW, "early", 21)


def test_no_d0(tmp_path: Path) -> None:
    at = _at(dt.date(2026, 2, 4))
    v = check_visit_window("ABC-001", "W4", at=at, visits=list_visits(tmp_path), settings=S)
    assert not v.ok and v.reason is RefusalReason.NO_D0 and v.overridable and v.window is None
    assert "has no D0" in v.message
    # a D0 still open is no D0 (its date is the sealed file's)
    open_visit(tmp_path, "ABC-001", "D0", D0_UTC)
    v = check_visit_window("ABC-001", "W4", at=at, visits=list_visits(tmp_path), settings=S)
    assert v.reason is RefusalReason.NO_D0 and "crashed" in v.message and "not sealed" in v.message


def test_a_replayed_d0_is_never_the_subjects_d0(tmp_path: Path) -> None:
    sealed(tmp_path, "ABC-001", "D0", D0_UTC, replay_of="XYZ-001_D0.h5")
    visits = list_visits(tmp_path)
    v = check_visit_window("ABC-001", "W4", at=_at(dt.date(2026, 2, 4)), visits=visits, settings=S)
    assert v.reason is RefusalReason.NO_D0 and "replay of XYZ-001_D0.h5" in v.message
    # and its name is taken: the subject's D0 cannot be recorded in this directory
    v = check_visit_window("ABC-001", "D0", at=_at(dt.date(2026, 2, 4)), visits=visits, settings=S)
    assert v.reason is RefusalReason.ALREADY_RECORDED and not v.overridable and "a replay of" in v.message


def test_d0_has_no_window_but_is_recorded_once(tmp_path: Path) -> None:
    at = _at(dt.date(2026, 1, 7))
    v = check_visit_window("ABC-001", "D0", at=at, visits=list_visits(tmp_path), settings=S)
    assert v.ok and v.window is None and v.reason is None
    sealed(tmp_path, "ABC-001", "D0", D0_UTC)
    v = check_visit_window("ABC-001", "D0", at=at, visits=list_visits(tmp_path), settings=S)
    assert v.reason is RefusalReason.ALREADY_RECORDED and not v.overridable


def test_second_visit_is_refused_and_no_override_applies(with_d0: Path) -> None:
    sealed(with_d0, "ABC-001", "W4", "2026-02-04T09:00:00.000000Z")
    at = _at(dt.date(2026, 2, 5))
    visits = list_visits(with_d0)
    v = check_visit_window("ABC-001", "W4", at=at, visits=visits, settings=S)
    assert v.reason is RefusalReason.ALREADY_RECORDED and not v.overridable and "ABC-001_W4.h5" in v.message
    with pytest.raises(VisitWindowRefused, match="an override does not apply") as exc:
        require_window("ABC-001", "W4", at=at, visits=visits, settings=S,
                       override=WindowOverride(reason="redo the visit", operator="tech1"))
    assert exc.value.verdict.reason is RefusalReason.ALREADY_RECORDED


def test_open_visit_is_refused(with_d0: Path) -> None:
    open_visit(with_d0, "ABC-001", "W4", "2026-02-04T09:00:00.000000Z")
    v = check_visit_window("ABC-001", "W4", at=_at(dt.date(2026, 2, 5)), visits=list_visits(with_d0), settings=S)
    assert v.reason is RefusalReason.ALREADY_OPEN and not v.overridable
    assert ".open/ABC-001_W4" in v.message and "recover" in v.message and "abandon" in v.message


def test_a_visit_in_the_manifest_whose_file_is_gone_needs_an_override(with_d0: Path) -> None:
    f = sealed(with_d0, "ABC-001", "W4", "2026-02-04T09:00:00.000000Z")
    f.unlink()
    visits = list_visits(with_d0)
    v = check_visit_window("ABC-001", "W4", at=_at(dt.date(2026, 2, 5)), visits=visits, settings=S)
    assert v.reason is RefusalReason.ALREADY_RECORDED and v.overridable and "missing" in v.message
    d = require_window("ABC-001", "W4", at=_at(dt.date(2026, 2, 5)), visits=visits, settings=S,
                       override=WindowOverride(reason="file lost with the old disk", operator="dm1"))
    assert d.overridden and d.verdict.reason is RefusalReason.ALREADY_RECORDED


def test_an_abandoned_attempt_does_not_refuse_and_is_named(with_d0: Path) -> None:
    folder = abandoned(with_d0, "ABC-001", "W4", "2026-02-04T09:00:00.000000Z")
    v = check_visit_window("ABC-001", "W4", at=_at(dt.date(2026, 2, 4)), visits=list_visits(with_d0), settings=S)
    assert v.ok and v.previous_attempts == [f".abandoned/{folder.name}"]


def test_refusal_without_override_is_one_line_naming_window_and_dates(with_d0: Path) -> None:
    at = _at(dt.date(2026, 4, 10))  # W12 window 2026-03-25 .. 2026-04-08
    with pytest.raises(VisitWindowRefused) as exc:
        require_window("ABC-001", "W12", at=at, visits=list_visits(with_d0), settings=S)
    msg = str(exc.value)
    assert "\n" not in msg and exc.value.code == 2
    assert msg.startswith("visit ABC-001_W12 on 2026-04-10 is 2 day(s) late: the W12 window is 2026-03-25 to "
                          "2026-04-08 (due 2026-04-01: D0 2026-01-07 + 84 days, -7/+7, UTC calendar)")
    assert msg.endswith("give --override REASON (recorded with your operator id)")


def test_override_is_recorded(with_d0: Path) -> None:
    at = _at(dt.date(2026, 4, 10))
    d = require_window("ABC-001", "W12", at=at, visits=list_visits(with_d0), settings=S,
                       override=WindowOverride(reason="patient hospitalised in week 12", operator="tech2"))
    assert d.overridden and d.audit_action == "visit_window.overridden"
    assert d.override == WindowOverride(reason="patient hospitalised in week 12", operator="tech2")
    assert d.at_utc == "2026-04-10T12:00:00.000000Z"
    assert d.verdict.reason is RefusalReason.OUT_OF_WINDOW and d.verdict.days_outside == 2
    # what the runner writes (event payload, audit entry) reads back as the same decision
    payload = json.loads(json.dumps(d.model_dump(mode="json")))
    assert payload["override"] == {"reason": "patient hospitalised in week 12", "operator": "tech2"}
    assert payload["verdict"]["reason"] == "out_of_window" and payload["verdict"]["window"]["due"] == "2026-04-01"
    assert WindowDecision.model_validate(payload) == d


def test_an_unneeded_override_is_not_recorded_as_used(with_d0: Path) -> None:
    d = require_window("ABC-001", "W12", at=_at(dt.date(2026, 4, 1)), visits=list_visits(with_d0), settings=S,
                       override=WindowOverride(reason="just in case", operator="tech2"))
    assert d.verdict.ok and not d.overridden and d.override is None and d.audit_action is None


@pytest.mark.parametrize("reason", ["", "ok", "two\nlines", "x" * 501, "esc \x1b[31m"])
def test_override_reason_is_one_printable_line(reason: str) -> None:
    with pytest.raises(ValidationError):
        WindowOverride(reason=reason, operator="tech1")


def test_override_operator_is_checked() -> None:
    with pytest.raises(ValidationError):
        WindowOverride(reason="a good reason", operator="tech 1")


def test_naive_time_is_refused(with_d0: Path) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        check_visit_window("ABC-001", "W4", at=dt.datetime(2026, 2, 4, 12), visits=list_visits(with_d0), settings=S)


def test_days_are_counted_on_the_site_calendar(tmp_path: Path) -> None:
    # D0 at 23:30 UTC on 2026-01-06 is 00:30 on 2026-01-07 in Paris: the window moves with the calendar
    sealed(tmp_path, "ABC-001", "D0", "2026-01-06T23:30:00.000000Z")
    visits = list_visits(tmp_path)
    paris = VisitWindowSettings(timezone="Europe/Paris")
    at = _at(dt.date(2026, 2, 11))
    v_paris = check_visit_window("ABC-001", "W4", at=at, visits=visits, settings=paris)
    v_utc = check_visit_window("ABC-001", "W4", at=at, visits=visits, settings=S)
    assert v_paris.ok and v_paris.window is not None and v_paris.window.d0_date == dt.date(2026, 1, 7)
    assert v_paris.window.last == dt.date(2026, 2, 11) and v_paris.timezone == "Europe/Paris"
    assert not v_utc.ok and v_utc.timing == "late" and v_utc.days_outside == 1
    assert v_utc.window is not None and v_utc.window.d0_date == dt.date(2026, 1, 6)
    # 23:30 UTC on 2026-01-27 is already 2026-01-28 in Paris: the first day of the window there
    late_evening = dt.datetime(2026, 1, 27, 23, 30, tzinfo=UTC)
    assert check_visit_window("ABC-001", "W4", at=late_evening, visits=visits, settings=paris).ok


def test_windows_are_configurable(with_d0: Path) -> None:
    settings = AcqSettings(visit_windows={"W12": {"late_days": 10}})
    assert settings.visit_windows.W12.due_days == 84 and settings.visit_windows.W12.early_days == 7
    assert settings.visit_windows.W4.late_days == 7
    visits = list_visits(with_d0)
    due = D0_DAY + dt.timedelta(days=84)
    assert check_visit_window("ABC-001", "W12", at=_at(due + dt.timedelta(days=10)), visits=visits,
                              settings=settings).ok
    v = check_visit_window("ABC-001", "W12", at=_at(due + dt.timedelta(days=11)), visits=visits, settings=settings)
    assert v.timing == "late" and v.days_outside == 1 and "-7/+10" in v.message


def test_windows_from_the_toml_file_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text('[visit_windows]\ntimezone = "Europe/Paris"\n[visit_windows.W4]\nearly_days = 3\n')
    s = AcqSettings.load(cfg)
    assert s.visit_windows.timezone == "Europe/Paris" and s.visit_windows.W4.early_days == 3
    assert s.visit_windows.W4.due_days == 28 and s.visit_windows.W24.due_days == 168
    monkeypatch.setenv("AMUSE_VISIT_WINDOWS", json.dumps({"W24": {"due_days": 170}}))
    assert AcqSettings.load().visit_windows.W24.due_days == 170


@pytest.mark.parametrize("bad,match", [
    ({"W4": {"due_days": 80}}, "W4's window .* overlaps or touches W12's"),
    ({"W4": {"early_days": 28}}, "W4's window starts 0 day"),
    ({"timezone": "Mars/Olympus"}, "not a known IANA time zone"),
    ({"W12": {"due_days": 84, "extra": 1}}, "extra"),
])
def test_bad_window_settings_are_refused(bad: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        AcqSettings(visit_windows=bad)

