"""`audit verify FILE|DIR`: the chains of a visit file's `/audit`, of a daily log, or of every one in a folder.

- A visit file (`*.h5`): its `/audit/entries`, read through the one reader (`VisitFile.audit_lines`), chain
  `visit/<subject>_<visit>` of the file's own attributes; it must end with its closing entry.
- A daily log (`YYYY-MM-DD.jsonl`): its lines, chain `day/YYYY-MM-DD`, its head file (`daily_log`).
- A folder: a DATA_DIR (its visit files and `audit/*.jsonl`) or an audit folder itself. Beyond each chain, the
  links between them: each day's genesis must continue the day before it in the folder (its last entry, by seq and
  hash: a day cut at its end, a day removed or one slipped in shows), and every entry of a visit file must have its
  twin, equal and naming its hash, in the daily log of its day when that log is in the folder.

Nothing here trusts what it reads: every line is decoded defensively, and a file that cannot be read is one
`unreadable` problem (in a folder) or `AuditTargetError` (a FILE that is not a visit file or a daily log).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from acquisition.visitfile.manifest import is_visit_file_name
from acquisition.visitfile.schema import visit_key
from sessions.audit.chain_check import AuditProblem, ChainReport, check_chain
from sessions.audit.daily_log import AUDIT_DIR, LOG_GLOB, LOG_SUFFIX, Head, read_head
from sessions.audit.entry import GENESIS, ZERO_HASH, AuditEntry, chain_of_day, chain_of_visit

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: fields an entry and its daily twin share
_TWIN_FIELDS = ("utc", "t_lsl", "operator", "uid", "action", "payload")


class AuditTargetError(ValueError):
    """The target is not something `audit verify` checks (exit 2)."""


class AuditVerifyReport(BaseModel):
    target: str
    sources: list[ChainReport] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources)

    @property
    def problems(self) -> list[AuditProblem]:
        return [p for s in self.sources for p in s.problems]


def _unreadable(source: str, chain: str, why: str) -> ChainReport:
    return ChainReport(source=source, chain=chain,
                       problems=[AuditProblem(source=source, kind="unreadable", detail=why)])


def check_visit_file(path: Path) -> ChainReport:
    """The chain of a visit file's `/audit`. An unreadable file is one `unreadable` problem."""
    from acquisition.visitfile.reader import VisitFile, VisitFileError

    source = f"{path}:/audit"
    chain = chain_of_visit(path.name.removesuffix(".h5"))
    try:
        with VisitFile.open(path, require_sealed=False, lenient=True) as vf:
            attrs = vf.attrs
            if isinstance(attrs.get("subject"), str) and isinstance(attrs.get("visit"), str):
                chain = chain_of_visit(visit_key(attrs["subject"], attrs["visit"]))
            lines = vf.audit_lines()
    except VisitFileError as exc:
        return _unreadable(source, chain, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - a damaged HDF5 object raises anything
        return _unreadable(source, chain, f"/audit cannot be read ({type(exc).__name__}: {str(exc)[:120]})")
    if lines is None:
        return ChainReport(source=source, chain=chain, problems=[AuditProblem(
            source=source, kind="bad genesis", detail="the file has no /audit (written before the audit trail "
            "existed): there is no chain to verify")])
    return check_chain(lines, source=source, chain=chain, position=lambda i: f"row {i}", closing=True)


def _day_prev(genesis: AuditEntry) -> str | None:
    previous = genesis.payload.get("previous")
    if previous is None:
        return None if genesis.prev == ZERO_HASH else "its prev is not zeros, yet it names no previous log"
    if not isinstance(previous, dict) or not isinstance(previous.get("hash"), str):
        return "its payload's previous is not {log, seq, hash}"
    return None if genesis.prev == previous["hash"] else "its prev is not the hash its payload's previous names"


def check_daily_log(path: Path) -> ChainReport:
    """The chain of one daily log, against its head file."""
    source = str(path)
    day = path.name.removesuffix(LOG_SUFFIX)
    chain = chain_of_day(day)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _unreadable(source, chain, f"cannot be read ({exc.strerror or exc})")
    text = raw.decode("utf-8", "replace")
    torn = bool(text) and not text.endswith("\n")
    lines = text.split("\n")
    if not torn:
        lines = lines[:-1]
    head: Head | None = None
    head_problem: str | None = None
    try:
        head = read_head(path)
    except (ValueError, OSError) as exc:
        head_problem = str(exc).splitlines()[0][:160]
    return check_chain(lines, source=source, chain=chain, position=lambda i: f"line {i + 1}", torn_tail=torn,
                       head=head, head_problem=head_problem, head_log=path.name, allowed_prev=_day_prev)


def _add(rep: ChainReport, kind: Any, detail: str, seq: int | None = None) -> None:
    rep.problems.append(AuditProblem(source=rep.source, kind=kind, seq=seq, detail=detail))


def _link_days(days: list[tuple[str, ChainReport]]) -> None:
    """Each day's genesis continues the day before it in the folder."""
    names = {d + LOG_SUFFIX for d, _ in days}
    for k, (day, rep) in enumerate(days):
        genesis = rep.entries[0] if rep.entries and rep.entries[0].seq == 0 else None
        if genesis is None or genesis.action != GENESIS:
            continue  # reported by the chain check
        previous = genesis.payload.get("previous")
        before = days[k - 1] if k else None
        if previous is None:
            if before is not None:
                _add(rep, "bad genesis", f"its genesis continues no log, but {before[0]}{LOG_SUFFIX} comes before it "
                     "in the folder", 0)
            continue
        if not isinstance(previous, dict):
            continue  # reported by the chain check
        name = previous.get("log")
        if before is None:
            if isinstance(name, str) and name in names:  # it names a later log
                _add(rep, "bad genesis", f"its genesis continues {name}, a later log", 0)
            continue
        bname, brep = before[0] + LOG_SUFFIX, before[1]
        if name != bname:
            if name in names:
                _add(brep, "inserted", f"this log is not in the chain of days: {day}{LOG_SUFFIX} continues {name}")
            else:
                _add(rep, "removed", f"{name!r}, which its genesis continues, is not in the folder (a day removed)")
            continue
        last = brep.last
        seq, h = previous.get("seq"), previous.get("hash")
        if last is None or not isinstance(seq, int):
            continue
        if seq > last.seq:
            missing = f"seq {last.seq + 1}" if seq == last.seq + 1 else f"seq {last.seq + 1}..{seq}"
            _add(brep, "truncated", f"{missing} missing at its end ({day}{LOG_SUFFIX}'s genesis continues seq {seq})",
                 last.seq + 1)
        elif seq < last.seq:
            _add(brep, "inserted", f"seq {seq + 1}..{last.seq} come after the entry {day}{LOG_SUFFIX}'s genesis "
                 "continues", seq + 1)
        elif h != last.hash:
            _add(brep, "edited", f"not the entry {day}{LOG_SUFFIX}'s genesis continues (another hash)", seq)


def _twins(visits: list[ChainReport], days: list[tuple[str, ChainReport]]) -> None:
    """Every entry of a visit file has its twin in the daily log of its day (when that log is here)."""
    by_day = dict(days)
    twins: dict[tuple[str, int], list[AuditEntry]] = defaultdict(list)
    for _, rep in days:
        for e in rep.entries:
            if e.ref is not None:
                twins[(e.ref.chain, e.ref.seq)].append(e)
    for vrep in visits:
        for e in vrep.entries:
            drep = by_day.get(e.day)
            if drep is None:
                continue
            found = [t for t in twins.get((e.chain, e.seq), []) if t.ref is not None and t.ref.hash == e.hash]
            if not found:
                kind = "edited" if (e.chain, e.seq) in twins else "removed"
                _add(drep, kind, f"the twin of {vrep.source} seq {e.seq} ({e.action}) is not in this log"
                     + (" (a twin names another hash)" if kind == "edited" else ""))
            elif not any(all(getattr(t, f) == getattr(e, f) for f in _TWIN_FIELDS) for t in found):
                _add(drep, "edited", f"the twin of {vrep.source} seq {e.seq} ({e.action}) differs from it")


def verify_path(target: Path) -> AuditVerifyReport:
    """Check a visit file, a daily log or a folder of them. Raises `AuditTargetError` for anything else."""
    target = Path(target)
    if target.is_file():
        if target.suffix == ".h5":
            rep = check_visit_file(target)
            if any(p.kind == "unreadable" for p in rep.problems):
                raise AuditTargetError(f"{target}: {rep.problems[0].detail}")
            return AuditVerifyReport(target=str(target), sources=[rep])
        if target.suffix == LOG_SUFFIX and _DAY.fullmatch(target.name.removesuffix(LOG_SUFFIX)):
            return AuditVerifyReport(target=str(target), sources=[check_daily_log(target)])
        raise AuditTargetError(f"{target}: not a visit file (*.h5) nor a daily audit log (YYYY-MM-DD{LOG_SUFFIX})")
    if not target.is_dir():
        raise AuditTargetError(f"{target}: no such file or directory")
    visit_files = sorted(p for p in target.glob("*.h5") if is_visit_file_name(p.name))
    logs = sorted({*target.glob(LOG_GLOB), *(target / AUDIT_DIR).glob(LOG_GLOB)}, key=lambda p: p.name)
    if not visit_files and not logs:
        raise AuditTargetError(f"{target}: no visit file (*.h5) and no daily audit log ({AUDIT_DIR}/YYYY-MM-DD"
                               f"{LOG_SUFFIX}) in it")
    visits = [check_visit_file(p) for p in visit_files]
    days = [(p.name.removesuffix(LOG_SUFFIX), check_daily_log(p)) for p in logs]
    _link_days(days)
    _twins(visits, days)
    return AuditVerifyReport(target=str(target), sources=[*visits, *(r for _, r in days)])
