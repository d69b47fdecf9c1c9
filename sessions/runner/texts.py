"""The technician's words the runner stores: reasons (skip, accept a failed step, abort, override) and notes.

A reason is one printable line of 3 to 500 characters: it goes into the file, the audit trail and one-line
messages. A note is free text up to 2000 characters (line breaks allowed, no other control character). Both are
stripped; neither is ever checked for content, so the technician must keep patient-identifying details out of them
(the audit trail stores a note by its SHA-256 only).
"""

from __future__ import annotations

from sessions.runner.errors import Refusal, RunnerRefused

REASON_MIN, REASON_MAX, NOTE_MAX = 3, 500, 2000


def reason_text(value: object, doing: str) -> str:
    """`value` as a reason for `doing`, or `RunnerRefused(reason_required / invalid_text)`."""
    text = value.strip() if isinstance(value, str) else ""
    if len(text) < REASON_MIN:
        raise RunnerRefused(Refusal.reason_required, f"{doing} needs a reason (one line, at least {REASON_MIN} "
                            "characters)")
    if len(text) > REASON_MAX or not text.isprintable():
        raise RunnerRefused(Refusal.invalid_text, f"a reason to {doing} is one printable line of at most "
                            f"{REASON_MAX} characters")
    return text


def note_text(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise RunnerRefused(Refusal.invalid_text, "a note is empty")
    if len(text) > NOTE_MAX or not all(c.isprintable() or c == "\n" for c in text):
        raise RunnerRefused(Refusal.invalid_text, f"a note is printable text (line breaks allowed) of at most "
                            f"{NOTE_MAX} characters")
    return text
