"""The visit list of a data directory, derived from what is on disk, every time: the sealed files, the
`MANIFEST.sha256`, and the folders `.open/`, `.abandoned/` and `.unrecoverable/` (docs/operations.md). There is no
second database that could drift from the files: the files are the truth.

Each entry is one thing found (`VisitEntry`): a sealed file (`sealed`, `recovered`; flagged `replay_of` for a
replay, which is never the subject's visit, and `qc_failed` for a file whose journal lost records), a file the
reader refuses (`unreadable`), a manifest line whose file is gone (`missing`), an unsealed recording (`open`
while its recorder holds its `visit.lock`, `recovering` while another process does, `crashed` when nobody does),
and earlier attempts set aside (`abandoned`, `unrecoverable`). Problems (a file not in the manifest, a
malformed manifest line, a name that reads as no visit) are listed, never raised: `amuse-acq visits` must show a
damaged data directory, not crash on it.

Fast enough: a file is opened through `VisitFile.open` without verification (its root attributes and `/qc`); the
reader's probe still opens it first in a child process, so a pathological file cannot hang the list. The probe is
most of the cost: 200 small files took 13 s on the 2-core machine under a load of 6 (probe 64 ms, open 28 ms per
file; 3 s without the probe), so one subject's list (`subject=`, what a window check needs) reads only that
subject's few files. `amuse-acq verify` is what checks the bytes. Whether a lock is held is read from `/proc/locks`, never by taking
the lock: a listing must not make a recorder's claim fail.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from acquisition.journal import decode_json, scan_log
from acquisition.visit_window_config import VisitWindowSettings
from acquisition.visitfile.manifest import MANIFEST_NAME, is_visit_file_name, parse_manifest
from acquisition.visitfile.reader import ReplayOf, VisitFile, VisitFileError
from sessions.abandon import ABANDONED_DIR, RECORD_NAME
from sessions.subject import VisitCode
from sessions.visit_store import UNRECOVERABLE_DIR, VISIT_LOCK
from sessions.visit_windows import Window, local_date, parse_utc, window_for

__all__ = ["EntryState", "VisitEntry", "VisitList", "list_visits"]

#: how long the reader's probe may take to open one file before it is listed as unreadable
PROBE_TIMEOUT_S = 5.0
#: a set-aside folder: `<key>.<utc>` (`20261125T101500.123456Z`), `.<n>` added when the name was taken
_ASIDE = re.compile(r"^(?P<key>.+)\.(?P<stamp>\d{8}T\d{6}(?:\.\d+)?Z)(?:\.\d+)?$")


class EntryState(str, Enum):
    SEALED = "sealed"
    RECOVERED = "recovered"
    UNREADABLE = "unreadable"
    MISSING = "missing"
    OPEN = "open"
    RECOVERING = "recovering"
    CRASHED = "crashed"
    ABANDONED = "abandoned"
    UNRECOVERABLE = "unrecoverable"


_FILE_STATES = (EntryState.SEALED, EntryState.RECOVERED, EntryState.UNREADABLE)
_OPEN_STATES = (EntryState.OPEN, EntryState.RECOVERING, EntryState.CRASHED)
_ASIDE_STATES = (EntryState.ABANDONED, EntryState.UNRECOVERABLE)


class VisitEntry(BaseModel):
    """One visit recording found in the data directory. `where` is relative to the data directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    visit: str
    state: EntryState
    where: str
    started_utc: str | None = None
    closed_utc: str | None = None
    operator: str | None = None
    simulated: bool | None = None
    replay_of: str | None = Field(None, description="a replay: the file it replays (never trial data)")
    qc_failed: bool = Field(False, description="its journal lost or repaired records when it was built")
    in_manifest: bool | None = Field(None, description="files only: listed in MANIFEST.sha256")
    note: str = ""
    problems: list[str] = Field(default_factory=list)
    window: Window | None = Field(None, description="its window (W4/W12/W24, once the subject has a sealed D0)")
    in_window: bool | None = Field(None, description="started within its window (trial visits with a window)")
    days_from_due: int | None = None

    @property
    def key(self) -> str:
        return f"{self.subject}_{self.visit}"

    @property
    def holds_name(self) -> bool:
        """A file `DATA_DIR/<key>.h5` exists: the visit can never be recorded again here."""
        return self.state in _FILE_STATES

    @property
    def is_open(self) -> bool:
        return self.state in _OPEN_STATES

    @property
    def is_missing(self) -> bool:
        return self.state is EntryState.MISSING

    @property
    def is_set_aside(self) -> bool:
        return self.state in _ASIDE_STATES

    @property
    def is_trial_visit(self) -> bool:
        """The subject's visit: sealed (or recovered) and not a replay. What windows count from and count."""
        return self.state in (EntryState.SEALED, EntryState.RECOVERED) and self.replay_of is None


class VisitList(BaseModel):
    """Every visit recording of one data directory, sorted by subject, visit code, then place."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: str
    entries: list[VisitEntry]
    problems: list[str] = Field(default_factory=list, description="problems of no visit (a bad manifest line...)")

    def subjects(self) -> list[str]:
        return sorted({e.subject for e in self.entries})

    def of(self, subject: str) -> list[VisitEntry]:
        return [e for e in self.entries if e.subject == subject]

    def at(self, subject: str, visit: str) -> list[VisitEntry]:
        """Every entry of one visit (a sealed file, an open folder, earlier attempts set aside...)."""
        return [e for e in self.entries if e.subject == subject and e.visit == visit]

    def trial_visit(self, subject: str, visit: str) -> VisitEntry | None:
        """The subject's sealed visit (not a replay), or None."""
        return next((e for e in self.at(subject, visit) if e.is_trial_visit), None)

    def why_no_d0(self, subject: str) -> str:
        """One line: why `subject` has no D0 to count a window from."""
        d0 = self.trial_visit(subject, "D0")
        if d0 is not None and d0.started_utc is None:
            return f"its D0 file {d0.where} has no readable started_utc"
        here = self.at(subject, "D0")
        if not here:
            return f"subject {subject} has no D0 in {self.data_dir}"
        e = here[0]
        if e.replay_of:
            return f"{e.where} is a replay of {e.replay_of}, never the subject's D0"
        return f"subject {subject}'s D0 is {e.state.value} ({e.where}), not sealed"


def _split_key(key: str) -> tuple[str, str] | None:
    subject, sep, visit = key.rpartition("_")
    if not sep or not subject or visit not in {v.value for v in VisitCode}:
        return None
    return subject, visit


def _clean(text: object, limit: int = 300) -> str:
    """What a file says, made safe for one terminal line (no control characters, bounded)."""
    s = "".join(c if c.isprintable() else "?" for c in str(text))
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _utc_or_problem(value: object, what: str, problems: list[str]) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parse_utc(value)
    except ValueError:
        problems.append(f"{what} {_clean(value, 60)!r} is not a UTC time")
        return None
    return value


def _sealed_entry(data_dir: Path, name: str, in_manifest: bool) -> VisitEntry | str:
    """The entry of `DATA_DIR/<name>` (a `.h5`), or a problem line if its name reads as no visit."""
    parsed = _split_key(name.removesuffix(".h5"))
    manifest_problem = [] if in_manifest else [f"not in {MANIFEST_NAME} (an interrupted seal: run amuse-acq "
                                               "recover; or a file copied in)"]
    try:
        with VisitFile.open(data_dir / name, require_sealed=True, verify=False,
                            probe_timeout_s=PROBE_TIMEOUT_S) as vf:
            ident = vf.identity
            qc = vf.qc
    except VisitFileError as exc:
        if parsed is None:
            return f"{_clean(name)}: {_clean(exc.reason)}"
        return VisitEntry(subject=parsed[0], visit=parsed[1], state=EntryState.UNREADABLE, where=name,
                          in_manifest=in_manifest, problems=[_clean(exc.reason), *manifest_problem])
    problems = list(manifest_problem)
    damage = qc.get("journal_damage")
    qc_failed = isinstance(damage, dict) and damage.get("ok", True) is False
    if qc_failed:
        problems.append("QC failed: its journal lost or repaired records when it was built (amuse-acq inspect)")
    started = _utc_or_problem(ident.started_utc, "started_utc", problems)
    closed = _utc_or_problem(ident.closed_utc, "closed_utc", problems)
    state = EntryState.RECOVERED if ident.state == "recovered" else EntryState.SEALED
    return VisitEntry(subject=ident.subject, visit=ident.visit, state=state, where=name, started_utc=started,
                      closed_utc=closed, operator=ident.operator, simulated=ident.simulated,
                      replay_of=_replay_label(ident.replay_of), qc_failed=qc_failed,
                      in_manifest=in_manifest, problems=problems)


def _lock_holder_pid(path: Path) -> int | None:
    """The pid the lock's holder wrote into it (`sessions.lockfile`), or None."""
    try:
        return int(json.loads(path.read_text(encoding="utf-8") or "{}")["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _locking_pids(path: Path) -> set[int] | None:
    """Pids holding a flock on `path` (from /proc/locks), or None if /proc/locks cannot be read."""
    try:
        st = os.stat(path)
        text = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == want:
            try:
                pids.add(int(parts[4]))
            except ValueError:
                continue
    return pids


def _visit_record(journal: Path) -> dict[str, object] | None:
    """The journal's visit record attributes (first record of `meta`, else of `meta-copy`), read without a lock
    and without writing (`scan_log(final=False)`: a visit being recorded may be appending)."""
    for log in ("meta", "meta-copy"):
        try:
            records = scan_log(journal / log, final=False).records if (journal / log).is_dir() else []
            first = decode_json(records[0]) if records else None
        except Exception:  # noqa: BLE001 - a damaged journal is listed as such, never raised
            continue
        if isinstance(first, dict) and first.get("type") == "visit" and isinstance(first.get("attrs"), dict):
            return first["attrs"]
    return None


def _open_entry(data_dir: Path, key: str) -> VisitEntry | str:
    parsed = _split_key(key)
    if parsed is None:
        return f".open/{_clean(key)}: a folder whose name reads as no <subject>_<visit>"
    folder = data_dir / ".open" / key
    problems: list[str] = []
    lock = folder / VISIT_LOCK
    state = EntryState.CRASHED
    if lock.exists():
        pids = _locking_pids(lock)
        if pids is None:
            state = EntryState.OPEN
            problems.append("cannot tell whether a process holds it (/proc/locks unreadable)")
        elif pids:
            state = EntryState.OPEN if _lock_holder_pid(lock) in pids else EntryState.RECOVERING
    attrs = _visit_record(folder / "journal")
    if attrs is None:
        problems.append("no readable visit record in its journal")
        attrs = {}
    note = {EntryState.OPEN: "being recorded", EntryState.RECOVERING: "being recovered or abandoned right now",
            EntryState.CRASHED: "left open (no process records it): run amuse-acq recover"}[state]
    operator, simulated = attrs.get("operator"), attrs.get("simulated")
    return VisitEntry(subject=parsed[0], visit=parsed[1], state=state, where=f".open/{key}",
                      started_utc=_utc_or_problem(attrs.get("started_utc"), "started_utc", problems),
                      operator=_clean(operator, 32) if isinstance(operator, str) else None,
                      simulated=simulated if isinstance(simulated, bool) else None, note=note, problems=problems)


def _aside_entries(data_dir: Path, folder: str, state: EntryState) -> Iterable[VisitEntry | str]:
    root = data_dir / folder
    if not root.is_dir():
        return
    for p in sorted(root.iterdir()):
        if not p.is_dir():
            continue  # .unrecoverable/<key>.<utc>.json: read with its folder
        m = _ASIDE.match(p.name)
        parsed = _split_key(m.group("key")) if m else None
        if parsed is None:
            yield f"{folder}/{_clean(p.name)}: a folder whose name reads as no <subject>_<visit>.<utc>"
            continue
        note_file = p / RECORD_NAME if state is EntryState.ABANDONED else root / f"{p.name}.json"
        problems: list[str] = []
        try:
            rec = json.loads(note_file.read_text(encoding="utf-8"))
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as exc:
            problems.append(f"its record {note_file.name} cannot be read ({_clean(exc, 120)})")
            rec = {}
        if state is EntryState.ABANDONED:
            held = rec.get("held") if isinstance(rec.get("held"), dict) else {}
            vr = held.get("visit_record") if isinstance(held.get("visit_record"), dict) else {}
            started = vr.get("started_utc")
            note = f"abandoned {_clean(rec.get('abandoned_utc', '?'), 40)} by {_clean(rec.get('operator', '?'), 32)}"
        else:
            started = None
            note = f"set aside {_clean(rec.get('set_aside_utc', '?'), 40)} by recover"
        if rec.get("reason"):
            note += f": {_clean(rec['reason'], 200)}"
        yield VisitEntry(subject=parsed[0], visit=parsed[1], state=state, where=f"{folder}/{p.name}",
                         started_utc=_utc_or_problem(started, "started_utc", problems), note=note, problems=problems)


def _with_window(e: VisitEntry, d0: VisitEntry | None, ws: VisitWindowSettings) -> VisitEntry:
    if d0 is None or d0.started_utc is None:
        return e
    window = window_for(e.visit, d0.started_utc, ws)
    if window is None:
        return e
    update: dict[str, object] = {"window": window}
    if e.is_trial_visit and e.started_utc is not None:
        day = local_date(parse_utc(e.started_utc), ws)
        update |= {"in_window": window.contains(day), "days_from_due": (day - window.due).days}
    return e.model_copy(update=update)


def list_visits(data_dir: Path, *, subject: str | None = None, windows: VisitWindowSettings | None = None
                ) -> VisitList:
    """The visit list of `data_dir` (of `subject` only, if given: what the window check of one opening needs,
    a few files instead of every file), each follow-up entry with its window (`windows`: the site's settings,
    default the trial's). Never raises for what it finds; OSError only if `data_dir` itself cannot be listed."""
    data_dir = Path(data_dir)
    ws = windows or VisitWindowSettings()

    def wanted(key: str) -> bool:
        if subject is None:
            return True
        parsed = _split_key(key)
        return parsed is not None and parsed[0] == subject

    names = sorted(os.listdir(data_dir))
    manifest = parse_manifest(data_dir / MANIFEST_NAME)
    problems = list(manifest.problems)
    found: list[VisitEntry | str] = []
    files = [n for n in names if is_visit_file_name(n) and (data_dir / n).is_file()]
    for name in files:
        if wanted(name.removesuffix(".h5")):
            found.append(_sealed_entry(data_dir, name, in_manifest=name in manifest.entries))
    for name in sorted(set(manifest.entries) - set(files)):
        parsed = _split_key(name.removesuffix(".h5"))
        if parsed is None:
            problems.append(f"{MANIFEST_NAME} line {manifest.entries[name].line}: {_clean(name)} reads as no visit")
            continue
        if wanted(name.removesuffix(".h5")):
            found.append(VisitEntry(subject=parsed[0], visit=parsed[1], state=EntryState.MISSING, where=name,
                                    in_manifest=True, problems=[f"listed in {MANIFEST_NAME} (line "
                                                                f"{manifest.entries[name].line}) but the file is "
                                                                "missing"]))
    open_root = data_dir / ".open"
    if open_root.is_dir():
        for p in sorted(open_root.iterdir()):
            if p.is_dir() and not p.name.startswith(".") and (subject is None or wanted(p.name)):
                found.append(_open_entry(data_dir, p.name))
    for folder, state in ((ABANDONED_DIR, EntryState.ABANDONED), (UNRECOVERABLE_DIR, EntryState.UNRECOVERABLE)):
        found += (e for e in _aside_entries(data_dir, folder, state)
                  if subject is None or (isinstance(e, VisitEntry) and e.subject == subject))
    entries = [e for e in found if isinstance(e, VisitEntry)]
    problems += [p for p in found if isinstance(p, str)]
    order = {v.value: i for i, v in enumerate(VisitCode)}
    d0s = {e.subject: e for e in entries if e.visit == "D0" and e.is_trial_visit}
    entries = [_with_window(e, d0s.get(e.subject), ws) for e in entries]
    entries.sort(key=lambda e: (e.subject, order.get(e.visit, 99), not e.is_trial_visit, e.where))
    return VisitList(data_dir=str(data_dir), entries=entries, problems=problems)


def _replay_label(origin: ReplayOf | None) -> str | None:
    """What a listing shows of a replay's original: its file name when stored, else the start of its SHA-256 (a
    replay under another subject keeps only the hash, so the two pseudonyms are not linked)."""
    if origin is None:
        return None
    return origin.file or f"sha256 {origin.sha256[:16]}"
