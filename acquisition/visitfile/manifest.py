"""The manifests of `DATA_DIR`: one line per sealed visit file in each, append-only.

- `MANIFEST.sha256`: `<SHA-256 of the file's bytes>  <file name>`, `sha256sum -c` compatible.
- `MANIFEST.content`: `<content_sha256 of the file>  <file name>`, the root of the file's content digest tree
  (`content_digest.py`), same line format (but not a byte hash: `sha256sum -c` does not apply to it).

The file checks itself through its digest tree; the manifests catch a file rewritten with all its digests
recomputed, and a file swapped, removed or added. Parsing never trusts a line: a line that is not
`<64 hex digits>  <name>.h5` with a plain file name of this folder, or that lists a file a second time, is a
reported problem, and the file it names is never opened.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field

MANIFEST_NAME = "MANIFEST.sha256"
CONTENT_MANIFEST_NAME = "MANIFEST.content"

_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.*)$")


def sha256_file(path: Path, *, block: int = 8 * 1024 * 1024) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(block)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_visit_file_name(name: str) -> bool:
    """A plain `<name>.h5` of the data folder itself: no directory part, not hidden, printable."""
    return (name.endswith(".h5") and len(name) > 3 and not name.startswith(".") and "/" not in name
            and "\\" not in name and name.isprintable())


class ManifestLine(BaseModel):
    line: int
    digest: str
    name: str


class ParsedManifest(BaseModel):
    manifest: str
    exists: bool
    entries: dict[str, ManifestLine] = Field(default_factory=dict, description="first line of each file")
    problems: list[str] = Field(default_factory=list)
    n_lines: int = 0


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def parse_manifest(path: Path) -> ParsedManifest:
    """Every well-formed line of a manifest, and one problem per line that is not."""
    out = ParsedManifest(manifest=path.name, exists=path.exists())
    if not out.exists:
        return out
    try:
        raw = path.read_bytes()
    except OSError as exc:
        out.problems.append(f"{path.name}: cannot be read ({type(exc).__name__}: {exc.strerror or exc})")
        return out
    lines = raw.decode("utf-8", "surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out.n_lines = len(lines)
    for no, line in enumerate(lines, 1):
        m = _LINE.match(line)
        if m is None:
            out.problems.append(f"{path.name} line {no}: expected '<64 hex digits>  <visit file>.h5', "
                                f"found {_shown(line)}")
            continue
        digest, name = m.group(1).lower(), m.group(2)
        if not is_visit_file_name(name):
            out.problems.append(f"{path.name} line {no}: names {_shown(name)}, not a visit file of this folder "
                                "(expected a plain <name>.h5); not opened")
            continue
        first = out.entries.get(name)
        if first is not None:
            same = "the same digest" if first.digest == digest else "a different digest"
            out.problems.append(f"{path.name} line {no}: {name} is listed again (first on line {first.line}, "
                                f"{same}); a sealed file is listed once")
            continue
        out.entries[name] = ManifestLine(line=no, digest=digest, name=name)
    return out


def read_manifest(data_dir: Path) -> dict[str, str]:
    """{file name: SHA-256} of the well-formed lines of `MANIFEST.sha256` (a file's first line if listed twice;
    `check_manifests` reports the duplicate)."""
    return {k: v.digest for k, v in parse_manifest(Path(data_dir) / MANIFEST_NAME).entries.items()}


def _append_once(manifest: Path, line: str) -> None:
    """Append `line` under an exclusive lock and fsync, unless that exact line is already there."""
    fd = os.open(manifest, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(manifest, "rb") as fh:
            present = line.encode() in fh.read().split(b"\n")
        if not present:
            os.write(fd, f"{line}\n".encode())
            os.fsync(fd)
    finally:
        os.close(fd)


def file_content_root(file: Path) -> str:
    """The `content_sha256` a visit file records (raises if it has none)."""
    import h5py

    with h5py.File(file, "r") as f:
        root = f.attrs.get("content_sha256")
    if not isinstance(root, str) or not re.fullmatch(r"[0-9a-f]{64}", root):
        raise ValueError(f"{file.name}: expected a content_sha256 root attribute of 64 hex digits, found {root!r}")
    return root


def append_manifest(data_dir: Path, file: Path, digest: str, *, content_root: str | None = None) -> None:
    """List a sealed file: its content root in `MANIFEST.content` first, then its SHA-256 in `MANIFEST.sha256`
    (the line that says "sealed"). Each line is written once: a seal interrupted between the two and finished
    again by `recover` does not list a file twice. `content_root` defaults to the one the file records."""
    data_dir = Path(data_dir)
    rel = os.path.relpath(file, data_dir)
    root = content_root if content_root is not None else file_content_root(Path(file))
    _append_once(data_dir / CONTENT_MANIFEST_NAME, f"{root}  {rel}")
    _append_once(data_dir / MANIFEST_NAME, f"{digest}  {rel}")
    fsync_dir(data_dir)


class ManifestCheck(BaseModel):
    """Problems found by the manifests: by visit file name, and those about the manifests themselves."""

    file_problems: dict[str, list[str]] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    sha256_lines: int = Field(0, description="MANIFEST.sha256 lines whose file was hashed and matched")
    content_lines: int = Field(0, description="MANIFEST.content lines whose file's content root matched")

    def add(self, name: str, problem: str) -> None:
        self.file_problems.setdefault(name, []).append(problem)


def _check_one(data_dir: Path, parsed: ParsedManifest, names: list[str], only: str | None, check: ManifestCheck,
               content_roots: Mapping[str, str | None]) -> None:
    content = parsed.manifest == CONTENT_MANIFEST_NAME
    for name, entry in sorted(parsed.entries.items()):
        if only is not None and name != only:
            continue
        p = data_dir / name
        where = f"{parsed.manifest} line {entry.line}"
        if not p.exists():
            check.add(name, f"listed in {where} but missing")
            continue
        if not p.is_file():
            check.add(name, f"listed in {where} but not a regular file")
            continue
        try:
            got = content_roots.get(name) if content else None
            if content and got is None:
                got = file_content_root(p)
            elif not content:
                got = sha256_file(p)
        except Exception as exc:  # noqa: BLE001 - unreadable, not HDF5, no root: one line, never a crash
            what = "its content root" if content else "its bytes"
            check.add(name, f"{what} cannot be read to check {where} ({type(exc).__name__}: {exc})".split("\n")[0])
            continue
        if got != entry.digest:
            if content:
                check.add(name, f"content root differs from {where} (its content and digests were changed after "
                                "sealing)")
            else:
                check.add(name, f"SHA-256 differs from {where} (file changed after sealing)")
        elif content:
            check.content_lines += 1
        else:
            check.sha256_lines += 1
    for name in names:
        if name not in parsed.entries:
            check.add(name, f"visit file not listed in {parsed.manifest}" if parsed.exists
                      else f"no {parsed.manifest} beside it")


def check_manifests(data_dir: Path, *, only: str | None = None,
                    content_roots: Mapping[str, str | None] | None = None) -> ManifestCheck:
    """Check both manifests against the visit files of `data_dir` (or the one named `only`). `content_roots`:
    the roots `verify` recomputed, by file name (else the root each file records is read)."""
    data_dir = Path(data_dir)
    names = [only] if only is not None else sorted(p.name for p in data_dir.glob("*.h5") if is_visit_file_name(p.name))
    check = ManifestCheck()
    for manifest in (MANIFEST_NAME, CONTENT_MANIFEST_NAME):
        parsed = parse_manifest(data_dir / manifest)
        check.problems.extend(parsed.problems)
        _check_one(data_dir, parsed, names, only, check, content_roots or {})
    return check


def check_manifest(data_dir: Path) -> list[str]:
    """Every manifest problem of `data_dir` as one line (`<file>: <problem>`, or about a manifest line)."""
    check = check_manifests(data_dir)
    return check.problems + [f"{name}: {p}" for name, ps in sorted(check.file_problems.items()) for p in ps]
