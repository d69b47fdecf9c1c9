"""One audit entry: its model, its canonical encoding and its hash (format `amuse-audit/1`, docs/audit.md).

Why the hash is over the *text* of the line: a stored entry is one canonical JSON line (keys sorted, no spaces,
ASCII only, no NaN). Its `hash` is SHA-256 of `FORMAT + "\\n"` and that same line with the `"hash":"<hex>",`
member left out, so a verifier in any language can check an entry by cutting that member out of the stored text,
without re-serialising floats its own way (float formatting differs between JSON libraries). Here, the line is
also re-encoded from its parsed value and must come out byte-identical (`parse_line`): an entry that is not in
canonical form was edited, even if its meaning is unchanged.

An entry belongs to exactly one chain (`chain`): `day/YYYY-MM-DD` (the machine's daily log) or `visit/<key>` (the
visit file's `/audit`). `prev` is the hash of the entry before it in that chain, `seq` its place (0: the genesis).
An entry of a visit is also written, as a twin, to the daily log; the twin's `ref` names the visit entry.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: the format of an entry; part of every hash, so a later format cannot be mistaken for this one
FORMAT = "amuse-audit/1"
#: `prev` of the first entry of a chain that continues nothing
ZERO_HASH = "0" * 64
#: action of an entry of seq 0 (every chain starts with one)
GENESIS = "audit.genesis"
#: action of the last entry of a visit chain (`AuditTrail.close`): what follows it, or its absence, is reported
CLOSED = "audit.closed"

_HEX64 = r"^[0-9a-f]{64}$"
_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
_ACTION = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
_OPERATOR = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
_CHAIN = r"^(day/\d{4}-\d{2}-\d{2}|visit/[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$"
_CONFIG = ConfigDict(frozen=True, extra="forbid", strict=True)


class AuditLineError(ValueError):
    """A stored line that is not an entry (not JSON, a field missing or wrong, not canonical, wrong hash)."""


class AuditRef(BaseModel):
    """In a daily-log twin: the visit entry it copies (its chain, seq and hash)."""

    model_config = _CONFIG
    chain: str = Field(pattern=_CHAIN)
    seq: int = Field(ge=0)
    hash: str = Field(pattern=_HEX64)


class AuditEntry(BaseModel):
    """One entry of a chain, as stored. Build new ones with `seal_entry`, read stored ones with `parse_line`."""

    model_config = _CONFIG
    seq: int = Field(ge=0, description="place in the chain; 0 is the genesis")
    utc: str = Field(pattern=_UTC, description="wall time, ISO-8601 UTC with Z")
    t_lsl: float | None = Field(description="LSL clock at the action (null when no LSL clock applies)")
    operator: str = Field(pattern=_OPERATOR, description="staff login, or `system` for the software itself")
    uid: int = Field(ge=0, le=2**32 - 1, description="OS uid of the process (or of the service's peer)")
    action: str = Field(pattern=_ACTION, max_length=64, description="`noun.verb`")
    payload: dict[str, Any]
    chain: str = Field(pattern=_CHAIN)
    ref: AuditRef | None = None
    prev: str = Field(pattern=_HEX64, description="hash of the entry before this one in its chain")
    hash: str = Field(pattern=_HEX64, description="SHA-256 of the canonical encoding of every other field")

    @field_validator("t_lsl")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("t_lsl must be a finite number or null")
        return v

    @property
    def day(self) -> str:
        """`YYYY-MM-DD` of `utc` (the daily log the entry or its twin goes to)."""
        return self.utc[:10]

    def line(self) -> str:
        """The stored text of this entry (no newline)."""
        return canonical(self.model_dump(mode="json"))


def canonical(value: Any) -> str:
    """The canonical JSON text: keys sorted, no spaces, ASCII only (`\\uXXXX` escapes), NaN and Infinity refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def entry_hash(fields: dict[str, Any]) -> str:
    """Hex SHA-256 of `FORMAT`, a newline, and the canonical text of `fields` without `hash`."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(f"{FORMAT}\n{canonical(body)}".encode("ascii")).hexdigest()


def seal_entry(*, seq: int, utc: str, t_lsl: float | None, operator: str, uid: int, action: str,
               payload: dict[str, Any], chain: str, prev: str, ref: AuditRef | None = None) -> AuditEntry:
    """A new entry with its hash computed. Raises `ValueError` (pydantic's `ValidationError`) naming a bad field."""
    fields: dict[str, Any] = {
        "seq": seq, "utc": utc, "t_lsl": None if t_lsl is None else float(t_lsl), "operator": operator, "uid": uid,
        "action": action, "payload": payload, "chain": chain, "ref": None if ref is None else ref.model_dump(),
        "prev": prev,
    }
    draft = AuditEntry.model_validate({**fields, "hash": ZERO_HASH})  # every field checked before hashing
    body = draft.model_dump(mode="json", exclude={"hash"})  # hashed as `line()` will write it
    return AuditEntry.model_validate({**body, "hash": entry_hash(body)})


class StoredEntry(BaseModel):
    """A stored line read as an entry: the entry, the hash its content gives, and what is wrong with it (None:
    nothing). An entry whose content no longer gives its hash still has a place (`seq`) and links (`prev`,
    `hash`): the verifier uses them to tell an edit from a removal."""

    model_config = ConfigDict(frozen=True)
    entry: AuditEntry
    computed: str
    problem: str | None = None


def decode_line(line: str) -> StoredEntry:
    """Read a stored line. Raises `AuditLineError` when it is not an entry at all (not JSON: a cut line; a field
    missing or invalid); a hash that does not match the content, or a text not in canonical form, is the
    returned `problem`."""
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise AuditLineError(f"not JSON ({getattr(exc, 'msg', exc)}, character {getattr(exc, 'pos', '?')})") \
            from None
    if not isinstance(raw, dict):
        raise AuditLineError(f"a JSON {type(raw).__name__}, not an entry object")
    if set(raw) != set(AuditEntry.model_fields):
        raise AuditLineError(f"fields {sorted(raw)} are not the entry's {sorted(AuditEntry.model_fields)}")
    try:
        entry = AuditEntry.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
        raise AuditLineError(f"field {where}: {first.get('msg')}") from None
    try:
        computed, text = entry_hash(raw), canonical(raw)
    except ValueError as exc:  # NaN in the payload
        raise AuditLineError(f"no canonical form ({exc})") from None
    problem = None
    if computed != entry.hash:
        problem = "its content does not give its hash (the entry was changed after it was written)"
    elif text != line:
        problem = "its text is not in canonical form (the line was rewritten)"
    return StoredEntry(entry=entry, computed=computed, problem=problem)


def parse_line(line: str) -> AuditEntry:
    """The entry a stored line holds, only if nothing is wrong with it; else `AuditLineError`, one line."""
    stored = decode_line(line)
    if stored.problem is not None:
        raise AuditLineError(stored.problem)
    return stored.entry


def chain_of_day(day: str) -> str:
    return f"day/{day}"


def chain_of_visit(key: str) -> str:
    return f"visit/{key}"
