"""`amuse-acq verify FILE|DATA_DIR`: check sealed visit files, their seal and the manifests; report, never crash.

Output, one line each: per visit file a status line (`OK  <file>  (...what was checked)` or `FAILED  <file>  (...)`),
then one `FAILED  <file>: <problem>` line per problem (naming the dataset and, for samples, the block and its
rows); problems that belong to no visit file (a bad manifest line, a visit left open) are `FAILED  <where>: ...`;
last a summary line saying what was checked. A file that checks out but whose own QC failed (`qc/journal_damage`:
its journal lost or repaired records when it was built) is never plain `OK`: its status line is `QC-FAILED  <file>:
intact, but ...` naming the first items, and the summary counts it (a FAILED file whose QC also failed gets a
`QC-FAILED  <file>: also, ...` line). Exit 0 only when everything checked out, no file's QC failed and at least one
visit file was checked: an empty folder is not a success; a QC-failed file exits 1, a data manager must look.
Everything printed from a file or a manifest is escaped (a damaged or hostile string cannot drive the terminal).

Each file's whole check runs in a forked child (`acquisition.visitfile.isolated_verify`): it opens the file
within a time limit (one that hangs HDF5 is `FAILED ... not checked`), and a child that HDF5 aborts is one
`FAILED` line of that file; the others go on. Measured: 74 ms per test file in the child against 26 ms probe +
46 ms in-process before, i.e. no extra cost (the probe forked already), so it is on. In a process with other
threads it falls back to a spawned probe and an in-process check. The seal does not use it: it calls
`verify_file` in-process, with the journal's tallies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from acquisition.visitfile.manifest import CONTENT_MANIFEST_NAME, MANIFEST_NAME, check_manifests, is_visit_file_name
from acquisition.visitfile.isolated_verify import verify_isolated
from acquisition.visitfile.reader import VisitFileHung
from acquisition.visitfile.verify import VerifyReport, sealed_file_problems
from sessions.cli_args import one_line

_WIDE = 2000  # escape, but do not cut, the lines printed
_QC_ITEMS = 3  # journal damage items named on a QC-FAILED line


class FileOutcome(BaseModel):
    name: str
    report: VerifyReport
    problems: list[str] = Field(default_factory=list)


def _visit_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.glob("*.h5") if is_visit_file_name(p.name))


def _open_visits(data_dir: Path, only_key: str | None) -> list[str]:
    """`.open/<key>/` directories: a visit still recording, or left by a crash or an interrupted seal."""
    root = data_dir / ".open"
    if not root.is_dir():
        return []
    try:
        entries = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as exc:
        return [f".open: cannot be listed ({type(exc).__name__}: {exc.strerror or exc})"]
    return [f".open/{p.name}: visit {p.name} is open (still recording, or left by a crash or an interrupted seal:"
            f" `amuse-acq recover {data_dir}` seals it)" for p in entries if only_key is None or p.name == only_key]


def _qc_items(o: FileOutcome) -> str:
    items = o.report.qc_failures
    more = f"; and {len(items) - _QC_ITEMS} more (`amuse-acq inspect` lists them)" if len(items) > _QC_ITEMS else ""
    return "; ".join(items[:_QC_ITEMS]) + more


def _status(o: FileOutcome) -> str:
    r = o.report
    n_samples = sum(max(0, s.n_samples) for s in r.streams)
    head = f"{len(r.streams)} streams, {n_samples} samples"
    if o.problems:
        return f"FAILED  {o.name}  ({head}; {len(o.problems)} problem(s))"
    checked = (f"{head}; {r.block_digests} stream block digests, digest tree of {r.tree_objects} objects and "
               f"{r.tree_attrs} attributes, content root {r.content_root}; bytes and content root match "
               f"{MANIFEST_NAME} and {CONTENT_MANIFEST_NAME}")
    if r.qc_failures:
        return (f"QC-FAILED  {o.name}: intact, but its journal lost or repaired records when it was built: "
                f"{_qc_items(o)}  ({checked})")
    return f"OK  {o.name}  ({checked})"


def run_verify(target: Path, *, out: Callable[[str], None] = print) -> int:
    """Verify a visit file or every visit file of a data folder; print the report; 0 if all is well, else 1."""
    target = Path(target)
    single = target.is_file()
    data_dir = target.parent if single else target
    files = [target] if single else _visit_files(data_dir)
    outcomes: list[FileOutcome] = []
    for f in files:
        try:  # in a child process: a file that hangs or aborts HDF5 must not stop the check of the others
            rep = verify_isolated(f)
        except VisitFileHung as exc:
            outcomes.append(FileOutcome(name=f.name, report=VerifyReport(path=str(f), ok=False),
                                        problems=[f"not checked: {exc.reason}"]))
            continue
        outcomes.append(FileOutcome(name=f.name, report=rep, problems=rep.problems + sealed_file_problems(f)))
    mcheck = check_manifests(data_dir, only=target.name if single else None,
                             content_roots={o.name: o.report.content_root for o in outcomes})
    by_name = {o.name: o for o in outcomes}
    others: list[str] = list(mcheck.problems)
    for name, ps in sorted(mcheck.file_problems.items()):
        if name in by_name:
            by_name[name].problems.extend(ps)
        else:
            others.extend(f"{name}: {p}" for p in ps)
    key = target.name.removesuffix(".h5") if single else None
    others.extend(_open_visits(data_dir, key))
    if not files:
        others.insert(0, f"{data_dir}: no visit files (*.h5) here: nothing was verified")

    def emit(line: str) -> None:
        out(one_line(line, limit=_WIDE))

    for o in outcomes:
        emit(_status(o))
        for p in o.problems:
            emit(f"FAILED  {o.name}: {p}")
        if o.problems and o.report.qc_failures:
            emit(f"QC-FAILED  {o.name}: also, its journal lost or repaired records when it was built: {_qc_items(o)}")
    for p in others:
        emit(f"FAILED  {p}")
    failed = [o for o in outcomes if o.problems]
    qc_failed = [o for o in outcomes if o.report.qc_failures and not o.problems]
    if failed or others:
        qc = f", {len(qc_failed)} more intact but QC-failed" if qc_failed else ""
        emit(f"verify: FAILED: {len(failed)} of {len(outcomes)} visit file(s) failed, {len(others)} other "
             f"problem(s){qc}")
        return 1
    if qc_failed:
        emit(f"verify: QC-FAILED: {len(qc_failed)} of {len(outcomes)} visit file(s) intact but QC-failed (journal "
             "damage when built: a data manager must look), 0 failed, 0 other problem(s)")
        return 1
    blocks = sum(o.report.block_digests for o in outcomes)
    emit(f"verify: OK: {len(outcomes)} visit file(s): {blocks} stream block digests and {len(outcomes)} content "
         f"digest tree(s) recomputed and matched; {mcheck.sha256_lines} {MANIFEST_NAME} and "
         f"{mcheck.content_lines} {CONTENT_MANIFEST_NAME} line(s) checked; read-only, one link each, no open visit")
    return 0
