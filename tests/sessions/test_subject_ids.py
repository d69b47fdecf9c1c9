"""Subject ids are refused before anything touches the disk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acquisition.config import AcqSettings
from sessions.manager import SessionManager
from sessions.subject import (
    InvalidIdentifier,
    VisitIdentity,
    describe_subject_pattern,
    validate_operator,
    validate_site,
    validate_subject,
    validate_visit,
    visit_codes_help,
)

BAD = {
    "arabic-indic digits": "ABC-\u0660\u0660\u0661",
    "extended arabic-indic": "ABC-\u06f1\u06f2\u06f3",
    "full-width digits": "ABC-\uff10\uff11\uff12",
    "trailing newline": "ABC-001\n",
    "leading space": " ABC-001",
    "path traversal": "../ABC-001",
    "slash": "ABC/001",
    "empty": "",
    "overlong": "ABC-" + "1" * 200,
    "lowercase": "abc-001",
    "nul": "ABC-0\x001",
    "cyrillic A": "\u0410BC-001",
}


@pytest.mark.parametrize("label", sorted(BAD))
def test_bad_subject_refused_with_reason(label: str) -> None:
    with pytest.raises(InvalidIdentifier) as err:
        validate_subject(BAD[label])
    assert "subject id" in str(err.value)


def test_good_subject_accepted() -> None:
    assert validate_subject("ABC-001") == "ABC-001"


def test_configurable_pattern() -> None:
    assert validate_subject("LYON-0042", pattern=r"^[A-Z]{4}-[0-9]{4}$") == "LYON-0042"
    with pytest.raises(InvalidIdentifier):
        validate_subject("ABC-001", pattern=r"^[A-Z]{4}-[0-9]{4}$")


def test_pattern_with_backslash_d_still_ascii_only() -> None:
    # re.ASCII: a site writing \d in its pattern must not let Arabic-Indic digits through
    with pytest.raises(InvalidIdentifier):
        validate_subject("ABC-\u0661\u0662\u0663", pattern=r"^[A-Z]{3}-\d{3}$")


@given(st.text(max_size=40))
def test_only_full_ascii_matches_pass(s: str) -> None:
    ok = re.fullmatch(r"[A-Z]{3}-[0-9]{3}", s, flags=re.ASCII) is not None
    try:
        validate_subject(s)
        accepted = True
    except InvalidIdentifier:
        accepted = False
    assert accepted == ok


def test_visit_and_operator_codes() -> None:
    assert validate_visit("W12").value == "W12"
    for bad in ("W8", "d0", "", "D0 "):
        with pytest.raises(InvalidIdentifier):
            validate_visit(bad)
    with pytest.raises(InvalidIdentifier):
        validate_operator("tech 1")


@pytest.mark.parametrize("label", ["arabic-indic digits", "trailing newline", "path traversal", "empty", "overlong"])
def test_invalid_subject_writes_nothing(tmp_path: Path, label: str) -> None:
    data = tmp_path / "data"
    settings = AcqSettings(data_dir=data)
    with pytest.raises(InvalidIdentifier):
        ident = VisitIdentity.checked(subject=BAD[label], visit="D0", operator="tech", site="SIM")
        SessionManager.open(settings, ident, simulated=True)
    assert not data.exists()


@pytest.mark.parametrize("site", ["../x\n\x1b[31mRED", "SIM\n", "sim", "S", "\u0410B", ""])
def test_identity_refuses_bad_site(site: str) -> None:
    with pytest.raises(InvalidIdentifier) as err:
        VisitIdentity.checked(subject="ABC-001", visit="D0", operator="tech", site=site)
    assert "site code" in str(err.value)


def test_site_and_subject_formats_described() -> None:
    assert validate_site("SIM") == "SIM" and validate_site("FR-01", pattern=r"^[A-Z]{2}-[0-9]{2}$") == "FR-01"
    assert describe_subject_pattern() == "three capital letters, a dash, three digits, e.g. ABC-001"
    assert r"^[A-Z]{4}-[0-9]{4}$" in describe_subject_pattern(r"^[A-Z]{4}-[0-9]{4}$")
    assert visit_codes_help().startswith("D0 (baseline")
    for code in ("D0", "W4", "W12", "W24"):
        assert code in visit_codes_help()
