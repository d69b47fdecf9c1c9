"""Regenerate the golden visits in tests/data/golden/: `make goldens` (or `.venv/bin/python -m tests.goldens.regenerate
[NAME ...]`).

Run it when a change of the recorded data or events is intended. For each golden of `definitions.GOLDENS` it
records a fresh visit through the wire-level simulators and the real session manager (`recording.py`), refuses it
unless it shows the faults it claims and holds nothing identifying of this host, then replaces
`<name>/<SUBJECT>_<VISIT>.h5`, writes `<name>.summary.txt` (`sessions.compare.describe_visit`: the human-readable
side of the review), `goldens.json` (sizes and SHA-256) and README.md, and prints what changed in the structure of
each summary (`summary_diff`; `git diff tests/data/golden/*.summary.txt` shows every line).
The goldens must stay under 5 MB in all (committed, replayed on every CI run): it fails past that.

A fresh recording differs from the last one in its samples and times (real threads against real simulated
wires), so regenerating always changes the .h5 files; the summaries show whether what they contain changed.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("LSLAPICFG", str(Path(__file__).resolve().parents[2] / "acquisition" / "lsl_api.cfg"))
os.environ.setdefault("AMUSE_LOG_LEVEL", "WARNING")  # the faults' warnings, not every device's opening

import argparse  # noqa: E402
import getpass  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from acquisition.visitfile.verify import verify_file  # noqa: E402
from tests.goldens.definitions import GOLDEN_DIR, GOLDENS, MAX_TOTAL_BYTES, Golden, by_name  # noqa: E402
from tests.goldens.privacy_scan import identifying_text  # noqa: E402
from tests.goldens.readme import render_readme  # noqa: E402
from tests.goldens.recording import record_golden  # noqa: E402
from tests.goldens.summary_diff import summary_changes  # noqa: E402

INDEX = GOLDEN_DIR / "goldens.json"
#: recordings of one golden before giving up: on a loaded machine the Aurora's poller may miss a frame (a real
#: gap, counted) in a golden that must have none; a golden whose fault never shows fails every attempt
ATTEMPTS = 3


class GoldenRefused(RuntimeError):
    """A fresh recording that does not verify, does not show what its definition claims, or names this host."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def host_words(scratch: Path) -> list[str]:
    """What of this machine must never be in a golden: its paths, its name, the user, the scratch folder."""
    words = ["/tmp/", "/work/", "/home/", "/root/", "amuse-rigs", str(scratch), tempfile.gettempdir() + "/",
             str(Path(__file__).resolve().parents[2])]
    host, user = socket.gethostname(), getpass.getuser()
    words += [w for w in (host, user) if len(w) >= 4 and w not in ("root", "localhost")]
    return sorted(set(words))


def record_checked(golden: Golden, scratch: Path) -> Path:
    """Record `golden` under `scratch` and check it (verified, its claims, nothing identifying)."""
    data_dir = scratch / "data"
    sealed = record_golden(golden, data_dir, progress=lambda line: print(line, flush=True))
    rep = verify_file(sealed.path)
    if not rep.ok:
        raise GoldenRefused(f"{golden.name}: the sealed visit does not verify: {rep.problems[0]}")
    if problems := golden.problems(sealed.path):
        raise GoldenRefused("; ".join(problems) + " (not what its definition claims)")
    if leaks := identifying_text(sealed.path, host_words(scratch)):
        raise GoldenRefused(f"{golden.name}: identifying text in the file: {leaks[0]}")
    return sealed.path


def install(golden: Golden, recorded: Path) -> None:
    """Put the recorded file in place of the golden (read-only, as a sealed visit is)."""
    folder = golden.path.parent
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copyfile(recorded, golden.path)
    golden.path.chmod(0o444)


def write_summary(golden: Golden) -> list[str]:
    """Write `<name>.summary.txt`; returns what changed against the previous one (`summary_diff`)."""
    from sessions.compare import describe_visit

    new = describe_visit(golden.path)
    old = golden.summary_path.read_text().splitlines() if golden.summary_path.exists() else []
    golden.summary_path.write_text("".join(line + "\n" for line in new))
    return [] if new == old else summary_changes(old, new)


def write_index() -> dict[str, dict[str, object]]:
    index = {g.name: {"file": str(g.path.relative_to(GOLDEN_DIR)), "bytes": g.path.stat().st_size,
                      "sha256": sha256_of(g.path)} for g in GOLDENS if g.path.exists()}
    INDEX.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return index


def remove_stale() -> list[str]:
    """Goldens left from definitions that no longer exist."""
    known = {g.name for g in GOLDENS}
    gone = []
    for p in sorted(GOLDEN_DIR.iterdir()):
        name = p.name.removesuffix(".summary.txt")
        if (p.is_dir() and p.name not in known) or (p.name.endswith(".summary.txt") and name not in known):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            gone.append(p.name)
    return gone


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.goldens.regenerate", description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help=f"goldens to regenerate (default: all: "
                                               f"{', '.join(g.name for g in GOLDENS)})")
    args = ap.parse_args(argv)
    try:
        chosen = [by_name(n) for n in args.names] if args.names else list(GOLDENS)
    except KeyError as exc:
        print(f"goldens: {exc.args[0]}", file=sys.stderr)
        return 2
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="amuse-golden-") as tmp:
        recorded = {}
        for golden in chosen:  # every one recorded and checked before any is replaced
            print(f"goldens: recording {golden.name} ({golden.key}): {golden.about}", flush=True)
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    recorded[golden.name] = record_checked(golden, Path(tmp) / f"{golden.name}-{attempt}")
                    break
                except GoldenRefused as exc:
                    if attempt == ATTEMPTS:
                        print(f"goldens: refused {ATTEMPTS} times, nothing replaced: {exc}", file=sys.stderr)
                        return 1
                    print(f"goldens: refused, recording again: {exc}", flush=True)
        for golden in chosen:
            install(golden, recorded[golden.name])
    for name in remove_stale():
        print(f"goldens: removed {name} (no longer defined)")
    index = write_index()
    total = sum(int(e["bytes"]) for e in index.values())  # type: ignore[call-overload]
    (GOLDEN_DIR / "README.md").write_text(render_readme(index))
    try:
        import sessions.compare  # noqa: F401 - describe_visit writes the summaries
    except ImportError as exc:
        print(f"goldens: recorded, but no summary written: sessions.compare is missing ({exc})", file=sys.stderr)
        return 1
    for golden in chosen:
        diff = write_summary(golden)
        print(f"goldens: {golden.name}: {index[golden.name]['bytes']} bytes; summary "
              + ("unchanged" if not diff else "changed: " + diff[0]))
        print("".join(f"    {line}\n" for line in diff[1:]), end="")
    print(f"goldens: {len(index)} golden(s), {total} bytes in all (budget {MAX_TOTAL_BYTES})")
    if total > MAX_TOTAL_BYTES:
        print(f"goldens: {total} bytes is over the {MAX_TOTAL_BYTES}-byte budget: shorten a golden",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
