"""Typed journal metadata: every record of the `meta` log is one model of the `MetaRecord` union.

Why a union with a `type` tag: the writer (session manager, recover) and the reader (compactor) agree on one
schema, and a record that is not one of these (unknown `type`, missing field, wrong type) is rejected by name
and counted, never silently ignored.

Why copies outside `meta`: a flipped bit in one record must not lose intact samples. The records needed to
rebuild a visit are written twice, in two different files:
- the visit record (and the calibration in force) in `meta` AND in `meta-copy` (a log written at open, and
  again for a calibration taken during the visit);
- each stream's description in `meta` AND as the first record of that stream's own log `streams/<name>`.
A copy inside a log of chunks is told apart from them by `COPY_MAGIC` (a chunk starts with `b"AC"`), see
`is_copy_payload`. `journal_visit`, `journal_calibration` and `journal_stream` are the only writers of this layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from acquisition.journal.errors import JournalFormatError
from acquisition.journal.writer import Journal
from acquisition.stream import StreamSpec

#: prefix of a meta record copied into a log of chunks (`streams/<name>`), then the record's JSON
COPY_MAGIC = b"AM\x01"
#: the log holding the second copy of the visit and calibration records
META_COPY_LOG = "meta-copy"
#: the log of the visit's audit chain (`AuditRecord`s only, each fsynced when written: `journal_audit`)
AUDIT_LOG = "audit"

# NaN / Infinity are kept as the tokens Python's json reads back: the journal must not alter a value
_CONFIG = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class VisitAttrs(BaseModel):
    """Root attributes of the visit file, as known when the visit opens. Other scalar attributes are allowed
    (they go to the file's root as they are)."""

    model_config = ConfigDict(frozen=True, extra="allow", ser_json_inf_nan="constants")

    subject: str = Field(min_length=1)
    visit: str = Field(min_length=1)
    site: str
    operator: str
    started_utc: str = Field(min_length=1)
    software_version: str
    closed_utc: str = ""
    state: str = "recording"
    simulated: bool
    config: str = "{}"
    boot_id: str = ""
    started_t_lsl: float | None = None


class VisitRecord(BaseModel):
    """First record of `meta` (copy: `meta-copy`). `calibration_records` says how many calibration records
    were written with it, so a lost calibration record is noticed rather than giving an empty `/calibration`."""

    model_config = _CONFIG
    type: Literal["visit"] = "visit"
    attrs: VisitAttrs
    calibration_records: int = Field(default=0, ge=0)


class StreamRecord(BaseModel):
    """A stream's description (copy: first record of `streams/<name>`), before its first chunk."""

    model_config = _CONFIG
    type: Literal["stream"] = "stream"
    spec: StreamSpec


class CalibrationRecord(BaseModel):
    """The calibration records in force during the visit (copy: `meta-copy`). `batch` 0: those in force at open
    (counted by the visit record); 1, 2...: each one taken during the visit (a per-visit kind such as the jaw
    reference), announced by a `calibration.recorded` event so its loss is noticed too (`journal_calibration`)."""

    model_config = _CONFIG
    type: Literal["calibration"] = "calibration"
    records: list[dict[str, Any]]
    batch: int = Field(default=0, ge=0)


class CountersRecord(BaseModel):
    """Periodic snapshot of every source's counters; the newest one wins."""

    model_config = _CONFIG
    type: Literal["counters"] = "counters"
    sources: dict[str, dict[str, Any]]


class OutcomesRecord(BaseModel):
    model_config = _CONFIG
    type: Literal["outcomes"] = "outcomes"
    rows: list[tuple[str, str, float, str, str]]


#: names of `/qc` attributes the compactor computes itself: a `QcRecord` may not take them
COMPUTED_QC = frozenset({"streams", "sources", "journal_damage_bytes", "journal_damage"})


class QcRecord(BaseModel):
    """A QC entry the session computed (the pre-flight gates, `sessions.preflight`): `value` becomes the `/qc`
    attribute `name` (JSON); a newer record of the same name replaces it (an override re-records the gates)."""

    model_config = _CONFIG
    type: Literal["qc"] = "qc"
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    value: dict[str, Any]

    @field_validator("name")
    @classmethod
    def _not_computed(cls, v: str) -> str:
        if v in COMPUTED_QC:
            raise ValueError(f"/qc/{v} is computed by the compactor; a session cannot record it")
        return v


class AuditRecord(BaseModel):
    """One entry of the visit's audit chain (`sessions.audit`), in the `audit` log: `entry` is its stored line
    (canonical JSON, hash-chained: opaque here, checked by `amuse-acq audit verify`), `seq` its place in the
    chain, so the compactor's ledger notices an entry lost in the journal. Its copy is the entry's twin in the
    daily log `DATA_DIR/audit/`, outside the journal."""

    model_config = _CONFIG
    type: Literal["audit"] = "audit"
    seq: int = Field(ge=0)
    entry: str = Field(min_length=2, max_length=16384)


class CloseRecord(BaseModel):
    """The visit was closed normally at `closed_utc` (a crash during the seal leaves it in the journal)."""

    model_config = _CONFIG
    type: Literal["close"] = "close"
    closed_utc: str = Field(min_length=1)


class RecoveredRecord(BaseModel):
    """`recover` rebuilt the visit at `utc` (the recovery time, not the end of the recording)."""

    model_config = _CONFIG
    type: Literal["recovered"] = "recovered"
    utc: str = Field(min_length=1)
    reason: str = ""


MetaRecord = Annotated[
    Union[VisitRecord, StreamRecord, CalibrationRecord, CountersRecord, OutcomesRecord, QcRecord, CloseRecord,
          RecoveredRecord, AuditRecord],
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[MetaRecord] = TypeAdapter(MetaRecord)


def encode_meta(rec: BaseModel) -> bytes:
    """Payload of `rec` in the `meta` log (its JSON)."""
    return rec.model_dump_json().encode("utf-8")


def encode_copy(rec: BaseModel) -> bytes:
    """Payload of a copy of `rec` in a log of chunks (`COPY_MAGIC` + its JSON)."""
    return COPY_MAGIC + encode_meta(rec)


def is_copy_payload(payload: bytes | memoryview) -> bool:
    """True if the payload is a meta record copied into a log of chunks."""
    return bytes(payload[: len(COPY_MAGIC)]) == COPY_MAGIC


def decode_meta(payload: bytes | bytearray | memoryview) -> MetaRecord:
    """A record of the union from a `meta` payload or a copy. Raises `JournalFormatError` naming what is wrong
    (not JSON, unknown `type`, a field missing or of the wrong type)."""
    buf = bytes(payload)
    if buf.startswith(COPY_MAGIC):
        buf = buf[len(COPY_MAGIC):]
    try:
        return _ADAPTER.validate_json(buf)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "record"
        raise JournalFormatError(f"meta record is not valid at {where}: {first.get('msg')}") from None


def journal_visit(journal: Journal, attrs: VisitAttrs, calibration: Sequence[dict[str, Any]] = ()) -> VisitRecord:
    """Write the visit record and the calibration (if any) in `meta`, then a copy of both in `meta-copy`.
    Call before anything else is written to the journal."""
    visit = VisitRecord(attrs=attrs, calibration_records=len(calibration))
    recs: list[BaseModel] = [visit]
    if calibration:
        recs.append(CalibrationRecord(records=[dict(r) for r in calibration]))
    for log in ("meta", META_COPY_LOG):
        w = journal.log(log)
        for r in recs:
            w.append(encode_meta(r))
    return visit


def journal_calibration(journal: Journal, records: Sequence[dict[str, Any]], *, batch: int) -> CalibrationRecord:
    """Write calibration records taken during the visit (`batch` >= 1, one number per call) in `meta` and, as a
    copy, in `meta-copy`. The caller then journals a `calibration.recorded` event naming the batch: the events
    log is the third place that knows of it, so losing both copies is reported, not an empty `/calibration`."""
    if batch < 1:
        raise ValueError(f"batch 0 is the calibration in force at open (journal_visit); got batch {batch}")
    rec = CalibrationRecord(records=[dict(r) for r in records], batch=batch)
    for log in ("meta", META_COPY_LOG):
        journal.log(log).append(encode_meta(rec))
    return rec


def journal_stream(journal: Journal, spec: StreamSpec) -> StreamRecord:
    """Declare a stream: its description in `meta` and as the head of `streams/<name>` (before any chunk)."""
    rec = StreamRecord(spec=spec)
    journal.log("meta").append(encode_meta(rec))
    journal.log(f"streams/{spec.name}").append(encode_copy(rec))
    return rec


def journal_audit(journal: Journal, rec: AuditRecord) -> None:
    """Append an audit entry to the `audit` log and fsync it before returning: an action is on the record before
    it is taken, not within the journal's fsync interval."""
    w = journal.log(AUDIT_LOG)
    w.append(encode_meta(rec))
    w.flush()
