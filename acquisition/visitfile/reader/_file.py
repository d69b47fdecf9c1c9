"""`VisitFile`: a sealed visit file opened read-only, refused with one typed error if it cannot be trusted.

It opens with HDF5's default file locking (a shared lock), like `verify`, `block_hash` and `manifest`: HDF5
refuses a second open of a file in one process with different locking flags ("file locking flag values don't
match"), and `verify="full"` opens the file again while this handle is open. A file being written (the
compactor's exclusive lock) is refused as unreadable, as it should be.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import h5py
import numpy as np
from pydantic import ValidationError

from acquisition.events import Event
from acquisition.visitfile.content_digest import compare_trees, digest_tree, error_text
from acquisition.visitfile.reader._errors import (
    UnknownSchemaVersion,
    VisitFileDamaged,
    VisitFileError,
    VisitFileNameMismatch,
    VisitFileNotSealed,
    VisitFileUnreadable,
)
from acquisition.visitfile.reader._events import read_events, repetition_intervals, select
from acquisition.visitfile.reader._models import AuditRow, CalibrationRecord, OutcomeRow, VisitIdentity
from acquisition.visitfile.reader._probe import PROBE_TIMEOUT_S, probe
from acquisition.visitfile.reader._scans import ScanView
from acquisition.visitfile.reader._stream import StreamView, text
from acquisition.visitfile.schema import AUDIT_ENTRIES, AUDIT_GROUP, GROUPS, SCHEMA_VERSION, STATES, visit_key

Verify = Literal[False, "quick", "full"]
V = TypeVar("V")

#: root attributes that are not part of the identity (the digest tree's own)
_NOT_IDENTITY = ("content_sha256", "content_digests")


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def name_problem(path: Path, subject: str, visit: str, *, partial_ok: bool = False) -> str | None:
    """None if `path` is named `<subject>_<visit>.h5` (or `.h5.partial` with `partial_ok`), else the one line
    saying so. Shared with `verify`, so both say it the same way."""
    key = visit_key(subject, visit)
    allowed = (f"{key}.h5", f"{key}.h5.partial") if partial_ok else (f"{key}.h5",)
    if Path(path).name in allowed:
        return None
    return (f"file name {Path(path).name!r} does not match the file's own subject {subject!r} and visit {visit!r}: "
            f"expected {key}.h5")


def schema_problem(version: Any, *, verb: str = "reads") -> str | None:
    """None for the schema version this software reads, else the one line saying so (shared with `verify`, which
    says "checks")."""
    if isinstance(version, (int, np.integer)) and not isinstance(version, bool) and int(version) == SCHEMA_VERSION:
        return None
    return (f"schema_version is {_plain(version)!r}, expected {SCHEMA_VERSION}: this software {verb} only schema "
            f"v{SCHEMA_VERSION} files (see docs/file-format.md)")


class _LazyMap(Mapping[str, V], Generic[V]):
    """Names listed now, views built on first access (a damaged member raises only when it is asked for)."""

    def __init__(self, names: list[str], build: Callable[[str], V]) -> None:
        self._names, self._build = names, build
        self._cache: dict[str, V] = {}

    def __getitem__(self, name: str) -> V:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = self._build(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"{{{', '.join(self._names)}}}"


class VisitFile:
    """A visit file open read-only. Use `VisitFile.open(path)` (a context manager); see docs/reading-a-visit.md."""

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path = path
        self._f = f
        self._identity: VisitIdentity | None = None
        self._events: list[Event] | None = None
        self.streams: Mapping[str, StreamView] = _LazyMap(
            list(f["streams"]) if "streams" in f else [], lambda n: StreamView(path, f["streams"][n], n))
        self.scans: Mapping[str, ScanView] = _LazyMap(
            list(f["scans"]) if "scans" in f else [], lambda n: ScanView(path, f["scans"][n], n))

    # -- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, *, require_sealed: bool = True, verify: Verify = False,
             probe_timeout_s: float | None = PROBE_TIMEOUT_S, lenient: bool = False) -> "VisitFile":
        """Open `path` read-only and check that it can be trusted, else raise a `VisitFileError` subclass.

        - `require_sealed`: refuse a file whose `state` is not sealed or recovered (a `.h5.partial` is then
          also accepted as a name).
        - `verify`: `"quick"` recomputes the content digest tree (every attribute, event, scan, QC ... and the
          recorded block digests of the samples; milliseconds); `"full"` also re-reads every sample block
          (`amuse-acq verify` without the manifests: about a second per 100 MB).
        - `probe_timeout_s`: open it first in a child process with this time limit (`_probe.py`: 10-25 ms in a
          single-threaded process), so a dead mount or a pathological file cannot hang the caller; None skips it.
        - `lenient`: refuse only a file HDF5 cannot open (for diagnostic tools that report the rest themselves).
        """
        path = Path(path)
        if probe_timeout_s is not None:
            probe(path, probe_timeout_s)
        try:
            f = h5py.File(path, "r")  # HDF5's default locking, as every other reader here: flags must agree
        except Exception as exc:  # noqa: BLE001 - truncated, damaged superblock, not HDF5, missing
            raise VisitFileUnreadable(path, f"not a readable HDF5 file ({error_text(exc)})") from None
        vf = cls(path, f) if lenient else None
        if vf is not None:
            return vf
        try:
            vf = cls._checked(path, f, require_sealed)
            if verify == "quick":
                vf._verify_quick()
            elif verify == "full":
                vf._verify_full(require_sealed)
            elif verify is not False:
                raise ValueError(f"verify must be False, 'quick' or 'full', not {verify!r}")
        except BaseException:
            f.close()
            raise
        return vf

    @classmethod
    def _checked(cls, path: Path, f: h5py.File, require_sealed: bool) -> "VisitFile":
        try:
            attrs = {k: _plain(f.attrs[k]) for k in f.attrs.keys()}
        except Exception as exc:  # noqa: BLE001 - a damaged root object header
            raise VisitFileDamaged(path, f"root attributes cannot be read ({error_text(exc)})") from None
        if (p := schema_problem(attrs.get("schema_version"))) is not None:
            raise UnknownSchemaVersion(path, p)
        state = attrs.get("state")
        if require_sealed and state not in STATES:
            raise VisitFileNotSealed(path, f"state is {state!r}, expected one of {STATES}: not a sealed visit "
                                           "file (a visit still recording, or left by a crash: `amuse-acq recover`)")
        vf = cls(path, f)
        ident = vf.identity
        if (p := name_problem(path, ident.subject, ident.visit, partial_ok=not require_sealed)) is not None:
            raise VisitFileNameMismatch(path, p)
        missing = [g for g in GROUPS if g not in f]
        if missing:
            raise VisitFileDamaged(path, f"group(s) {', '.join('/' + g for g in missing)} missing, expected "
                                         f"{', '.join('/' + g for g in GROUPS)}")
        return vf

    def _verify_quick(self) -> None:
        tree = digest_tree(self._f)
        stored = _plain(self._f.attrs.get("content_sha256"))
        if tree.root is None:
            raise VisitFileDamaged(self.path, f"content digest tree cannot be recomputed: {tree.problems[0]}")
        if tree.root == stored:
            return
        try:
            recorded = {k: (str(v[0]), str(v[1])) for k, v in
                        json.loads(text(self._f.attrs["content_digests"])).items()}
            where = compare_trees(recorded, tree)[:2]
        except Exception:  # noqa: BLE001 - the detail table itself may be what was damaged
            where = []
        raise VisitFileDamaged(self.path, f"content_sha256: the file's content gives {tree.root[:16]}..., the file "
                                          f"records {str(stored)[:16]}...: its content changed after it was written"
                               + (f" ({'; '.join(where)})" if where else ""))

    def _verify_full(self, require_sealed: bool) -> None:
        from acquisition.visitfile.verify import verify_file  # verify imports this package's helpers

        rep = verify_file(self.path, require_sealed=require_sealed)
        if not rep.ok:
            raise VisitFileDamaged(self.path, f"verification found {len(rep.problems)} problem(s), the first: "
                                              f"{rep.problems[0]}")

    # -- context manager -------------------------------------------------------------------------------------
    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "VisitFile":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VisitFile({self.path.name!r}, streams {list(self.streams)}, scans {list(self.scans)})"

    # -- what the file holds ---------------------------------------------------------------------------------
    @property
    def h5(self) -> h5py.File:
        """The open h5py file (read-only), for what this reader does not cover."""
        return self._f

    @property
    def attrs(self) -> dict[str, Any]:
        """The root attributes as stored (strings decoded, numpy scalars as Python values), without the digest
        tree's own two."""
        return {k: _plain(self._f.attrs[k]) for k in self._f.attrs.keys() if k not in _NOT_IDENTITY}

    @property
    def identity(self) -> VisitIdentity:
        if self._identity is None:
            a = self.attrs
            try:
                for k in ("config", "replay_of", "protocol"):  # stored as JSON text
                    if isinstance(a.get(k), str):
                        a[k] = json.loads(a[k])
                self._identity = VisitIdentity.model_validate(a)
            except (ValidationError, ValueError) as exc:
                first = str(exc).splitlines()[0][:120]
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]) \
                    if isinstance(exc, ValidationError) else first
                raise VisitFileDamaged(self.path, f"root attributes do not describe a visit ({detail})") from None
        return self._identity

    def events(self, *, kind: str | None = None, name: str | None = None, step: str | None = None,
               repetition: int | None = None, stream: str | None = None) -> list[Event]:
        """Events in journal order, filtered (`_events.py` says how a repetition is matched)."""
        if self._events is None:
            self._events = read_events(self.path, self._f)
        return select(self._events, kind=kind, name=name, step=step, repetition=repetition, stream=stream)

    def step_intervals(self) -> list[tuple[str, int, float, float]]:
        """(step, repetition, t_start, t_end) of each step as the session recorded it (t_lsl)."""
        return repetition_intervals(self.events())

    @property
    def calibration(self) -> list[CalibrationRecord]:
        g = self._f["calibration"]
        try:
            return [CalibrationRecord.model_validate_json(text(g.attrs[k])) for k in sorted(g.attrs.keys())]
        except ValidationError as exc:
            raise VisitFileDamaged(self.path, f"/calibration: a record does not parse ({error_text(exc)})") from None

    @property
    def qc(self) -> dict[str, Any]:
        """`/qc`, every attribute decoded from JSON (docs/file-format.md, "/qc")."""
        g = self._f["qc"]
        try:
            return {k: json.loads(text(g.attrs[k])) for k in g.attrs.keys()}
        except ValueError as exc:
            raise VisitFileDamaged(self.path, f"/qc: an attribute is not JSON ({error_text(exc)})") from None

    @property
    def outcomes(self) -> list[OutcomeRow]:
        g = self._f["outcomes"]
        if "table" not in g:
            return []
        return [OutcomeRow(step=text(r["step"]), metric=text(r["metric"]), value=float(r["value"]),
                           unit=text(r["unit"]), method=text(r["method"])) for r in g["table"][:]]

    def audit_lines(self) -> list[str] | None:
        """`/audit/entries` as stored, one JSON text per entry in chain order; None if the file has no `/audit`
        (written before the audit trail existed). What `amuse-acq audit verify` checks."""
        if AUDIT_GROUP not in self._f:
            return None
        g = self._f[AUDIT_GROUP]
        if AUDIT_ENTRIES not in g:
            raise VisitFileDamaged(self.path, f"/{AUDIT_GROUP} has no {AUDIT_ENTRIES} dataset")
        return [text(v) for v in g[AUDIT_ENTRIES][:]]

    def audit(self) -> list[AuditRow]:
        """The visit's audit entries in chain order ([] without `/audit`), decoded but not verified (`amuse-acq
        audit verify FILE` checks the hash chain). Raises `VisitFileDamaged` naming a row that is not an entry."""
        out: list[AuditRow] = []
        for i, line in enumerate(self.audit_lines() or []):
            try:
                out.append(AuditRow.model_validate_json(line))
            except ValidationError as exc:
                raise VisitFileDamaged(self.path, f"/{AUDIT_GROUP}/{AUDIT_ENTRIES} row {i} is not an audit entry "
                                                  f"({error_text(exc)})") from None
        return out


__all__ = ["VisitFile", "VisitFileError", "name_problem", "schema_problem"]
