"""What an audit payload may hold: small, plain JSON, and nothing that identifies a patient.

The audit trail is read by monitors and auditors who must never learn who the subject is; the subject is known by
pseudonym only. A payload is checked before its entry is written, and refused (`AuditPayloadRefused`, one line
naming the key and the rule, **never the value**: the value may be the identifying text) when:

- it is not plain JSON (objects with string keys, lists, strings, finite numbers, booleans, null), deeper than
  `MAX_DEPTH`, or longer than `MAX_PAYLOAD_BYTES` in canonical JSON (an entry is a line, not a document);
- a key is not snake_case ASCII (`[a-z][a-z0-9_]{0,47}`): a key is a field name, never free text;
- a key names identity: any of its `_`-separated words is in `IDENTITY_WORDS` (`name`, `first_name`,
  `patient_name`, `date_of_birth`, `address`, `phone`, `email`, `ssn`, `nir`, `ipp`, ...). There is no free-text
  names field: a device, a step or a stream goes under `source`, `step`, `stream`;
- `subject` is not a pseudonym of the site's pattern (the pseudonym is the one subject identifier allowed);
- a string is longer than `MAX_TEXT` (`MAX_FREE_TEXT` under the free-text keys `reason`, `note`, `comment`,
  `message`, `error`, `detail`), or holds a control character (a newline included);
- a string holds an e-mail address, or a run of 9 or more digits (optionally `+` first, single spaces, dots,
  dashes or slashes between them) that touches no letter or digit: a phone number, a social-security number
  (NIR), a hospital number. Keys whose last word is a machine identifier (`serial`, `sha256`, `hash`, `digest`,
  `id`, `uuid`, `crc`) are exempt from this digit rule (a device serial can be all digits).

What no rule can see, a name typed in a free-text reason, is the operator's responsibility (docs/audit.md says so);
the rules catch what can be recognised mechanically.
"""

from __future__ import annotations

import math
import re
from typing import Any

from acquisition.config import DEFAULT_SUBJECT_PATTERN
from sessions.audit.entry import canonical
from sessions.audit.errors import AuditRefused

MAX_PAYLOAD_BYTES = 4096
MAX_DEPTH = 5
MAX_TEXT = 200
MAX_FREE_TEXT = 500
FREE_TEXT_KEYS = frozenset({"reason", "note", "comment", "message", "error", "detail"})
IDENTITY_WORDS = frozenset({
    "name", "names", "surname", "firstname", "lastname", "forename", "givenname", "fullname", "maiden", "nom",
    "prenom", "initials", "username", "birth", "birthdate", "birthday", "dob", "born", "age", "address", "street",
    "city", "zip", "postcode", "postal", "phone", "telephone", "mobile", "email", "mail", "ssn", "nir", "insee",
    "ipp", "mrn", "nip", "patient", "passport",
})
MACHINE_ID_WORDS = frozenset({"serial", "sha256", "hash", "digest", "id", "uuid", "crc"})

_KEY = re.compile(r"[a-z][a-z0-9_]{0,47}", re.ASCII)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9])\+?\d(?:[ ./-]?\d){8,}(?![A-Za-z0-9])")


class AuditPayloadRefused(AuditRefused):
    """A payload breaks a rule of `payload_rules`; the message names the key and the rule, not the value."""


def check_payload(payload: object, *, subject_pattern: str = DEFAULT_SUBJECT_PATTERN) -> dict[str, Any]:
    """Return `payload` (a dict) if every rule holds, else raise `AuditPayloadRefused`."""
    if not isinstance(payload, dict):
        raise AuditPayloadRefused(f"payload must be a JSON object, not {type(payload).__name__}")
    _check(payload, "payload", None, 0, subject_pattern)
    try:
        size = len(canonical(payload))
    except (TypeError, ValueError) as exc:
        raise AuditPayloadRefused(f"payload is not plain JSON ({type(exc).__name__})") from None
    if size > MAX_PAYLOAD_BYTES:
        raise AuditPayloadRefused(f"payload is {size} bytes in canonical JSON; at most {MAX_PAYLOAD_BYTES}")
    return payload


def _check(value: object, where: str, key: str | None, depth: int, subject_pattern: str) -> None:
    if depth > MAX_DEPTH:
        raise AuditPayloadRefused(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_key(k, where)
            _check(v, f"{where}.{k}", k, depth + 1, subject_pattern)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check(v, f"{where}[{i}]", key, depth + 1, subject_pattern)
    elif isinstance(value, str):
        _check_text(value, where, key, subject_pattern)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise AuditPayloadRefused(f"{where}: NaN or infinity is not JSON")
    elif value is not None and not isinstance(value, (bool, int)):
        raise AuditPayloadRefused(f"{where}: a {type(value).__name__} is not plain JSON")


def _check_key(k: object, where: str) -> None:
    if not isinstance(k, str) or _KEY.fullmatch(k) is None:
        shown = repr(k) if isinstance(k, str) and k.isascii() and len(k) <= 48 and k.isprintable() else "a key"
        raise AuditPayloadRefused(f"{where}: key {shown} is not snake_case ASCII ([a-z][a-z0-9_], at most 48)")
    words = set(k.split("_")) | {k.replace("_", "")}
    if bad := sorted(words & IDENTITY_WORDS):
        raise AuditPayloadRefused(f"{where}: key {k!r} names identity ({bad[0]!r}); an audit payload holds no "
                                  "patient data (a device, step or stream goes under source, step, stream)")


def _check_text(s: str, where: str, key: str | None, subject_pattern: str) -> None:
    if key == "subject":
        if re.fullmatch(subject_pattern, s, flags=re.ASCII) is None or not s.isascii():
            raise AuditPayloadRefused(f"{where}: not a subject pseudonym of the pattern {subject_pattern}")
        return
    limit = MAX_FREE_TEXT if key in FREE_TEXT_KEYS else MAX_TEXT
    if len(s) > limit:
        raise AuditPayloadRefused(f"{where}: text of {len(s)} characters; at most {limit}")
    if any(not c.isprintable() for c in s):
        raise AuditPayloadRefused(f"{where}: holds a control character (a newline, a tab, an escape)")
    if _EMAIL.search(s):
        raise AuditPayloadRefused(f"{where}: holds an e-mail address")
    last_word = (key or "").rsplit("_", 1)[-1]
    if last_word not in MACHINE_ID_WORDS and _DIGIT_RUN.search(s):
        raise AuditPayloadRefused(f"{where}: holds a run of 9 or more digits (a phone or identity number?)")
