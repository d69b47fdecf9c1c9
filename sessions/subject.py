"""Subject pseudonyms, visit codes and operators: checked strictly before anything touches the disk.

A subject id becomes part of a file name and is a trial record's key: only a full match of the configured pattern
on plain ASCII is accepted. Look-alike digits (Arabic-Indic, full-width), trailing newlines, path pieces,
empty or overlong input are refused with a message saying what is wrong.
"""

from __future__ import annotations

import re
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from acquisition.config import DEFAULT_SITE_PATTERN, DEFAULT_SUBJECT_PATTERN, check_site_code


class InvalidIdentifier(ValueError):
    """A subject, visit or operator identifier was refused."""


class VisitCode(str, Enum):
    D0 = "D0"
    W4 = "W4"
    W12 = "W12"
    W24 = "W24"


#: what each visit code means (trial registry NCT07326033): for help texts and error messages
VISIT_MEANINGS = {"D0": "baseline, injection day", "W4": "week 4", "W12": "week 12", "W24": "week 24"}


def visit_codes_help() -> str:
    """'D0 (baseline, injection day), W4 (week 4), ...' for a command's --visit help."""
    return ", ".join(f"{v.value} ({VISIT_MEANINGS[v.value]})" for v in VisitCode)


def describe_subject_pattern(pattern: str = DEFAULT_SUBJECT_PATTERN) -> str:
    """The subject format in words for a help text; a site's own pattern is shown as the regex itself."""
    if pattern == DEFAULT_SUBJECT_PATTERN:
        return "three capital letters, a dash, three digits, e.g. ABC-001"
    return f"must match the site's pattern {pattern}"


def validate_subject(value: object, *, pattern: str = DEFAULT_SUBJECT_PATTERN, max_len: int = 32) -> str:
    """Return the subject pseudonym unchanged if acceptable, else raise `InvalidIdentifier`."""
    if not isinstance(value, str):
        raise InvalidIdentifier(f"subject id must be text, got {type(value).__name__}")
    if value == "":
        raise InvalidIdentifier("subject id is empty")
    if len(value) > max_len:
        raise InvalidIdentifier(f"subject id is {len(value)} characters long; at most {max_len} allowed")
    if not value.isascii():
        bad = next(c for c in value if not c.isascii())
        raise InvalidIdentifier(f"subject id {value!r} contains a non-ASCII character {bad!r} (U+{ord(bad):04X})")
    if any(c in value for c in "/\\") or ".." in value:
        raise InvalidIdentifier(f"subject id {value!r} contains a path separator or '..'")
    if any(not c.isprintable() or c.isspace() for c in value):
        raise InvalidIdentifier(f"subject id {value!r} contains whitespace or a control character")
    # fullmatch + re.ASCII: '$' alone would accept a trailing newline, and \d would accept non-ASCII digits
    if re.fullmatch(pattern, value, flags=re.ASCII) is None:
        raise InvalidIdentifier(f"subject id {value!r} does not match the required pattern {pattern}")
    return value


def validate_visit(value: object) -> VisitCode:
    codes = ", ".join(v.value for v in VisitCode)
    if not isinstance(value, str) or value not in {v.value for v in VisitCode}:
        raise InvalidIdentifier(f"visit code {value!r} is not one of {codes}")
    return VisitCode(value)


_OPERATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", flags=re.ASCII)


def validate_site(value: object, *, pattern: str = DEFAULT_SITE_PATTERN) -> str:
    """Site codes are written into every file and printed to a terminal (see `check_site_code`)."""
    try:
        return check_site_code(value, pattern)
    except ValueError as exc:
        raise InvalidIdentifier(str(exc)) from None


def validate_operator(value: object) -> str:
    """Operators are staff login names (not patient data): ASCII letters, digits, '_', '.', '-' (1-32)."""
    if not isinstance(value, str) or _OPERATOR.fullmatch(value) is None:
        raise InvalidIdentifier(
            f"operator {value!r} must be 1-32 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return value


class VisitIdentity(BaseModel):
    """Who and which visit. Build it with `VisitIdentity.checked(...)` so the site's pattern applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1)
    visit: VisitCode
    operator: str
    site: str

    @field_validator("operator")
    @classmethod
    def _op(cls, v: str) -> str:
        return validate_operator(v)

    @classmethod
    def checked(cls, *, subject: object, visit: object, operator: object, site: str,
                pattern: str = DEFAULT_SUBJECT_PATTERN, max_len: int = 32,
                site_pattern: str = DEFAULT_SITE_PATTERN) -> "VisitIdentity":
        return cls(
            subject=validate_subject(subject, pattern=pattern, max_len=max_len),
            visit=validate_visit(visit),
            operator=validate_operator(operator),
            site=validate_site(site, pattern=site_pattern),
        )

    @property
    def key(self) -> str:
        return f"{self.subject}_{self.visit.value}"
