"""tests/data/golden/README.md, written by the generator from the definitions (so it cannot drift from them).

Sizes are rounded to 0.1 MB: a fresh recording differs by a few kB, which must not churn the README.
"""

from __future__ import annotations

from collections.abc import Mapping

from tests.goldens.definitions import GOLDENS, MAX_TOTAL_BYTES, OPERATOR, SITE, Golden

_INSTRUMENT = {"bitalino": "EMG (2 BITalino boards: emg_a, emg_b)", "aurora": "jaw tracker (NDI Aurora)",
               "cell_board": "stabilometry plate (cell board)", "scanner": "facial scanner"}


def _mb(n: int) -> str:
    return f"{max(n, 1) / 1e6:.1f} MB"


def _steps(g: Golden) -> str:
    parts = []
    for s in g.steps:
        if s.kind == "device":
            what = f"{s.name} {s.seconds:g} s"
        elif s.kind == "scan":
            what = f"{s.name} (1 {s.scan_format.upper()} capture)"
        else:
            what = s.name
        faults = [f"{f.fault} x{f.count} on {f.device} at {f.at_s:g} s" for f in s.faults]
        parts.append(what + (f" [{'; '.join(faults)}]" if faults else ""))
    return ", ".join(parts)


def render_readme(index: Mapping[str, Mapping[str, object]]) -> str:
    lines = [
        "# Golden visits",
        "",
        "Short visits recorded through the wire-level simulators and the real session manager, some with a fault,",
        "replayed by `tests/sessions/test_goldens.py` on every CI run: each must verify, describe itself exactly",
        "as its `<name>.summary.txt` says, replay (`sessions.replay.replay_into`) into a visit identical to it",
        "(`sessions.compare.compare_visits`), and show its fault again in the replay. Any change of the stored",
        "data or events fails the test.",
        "",
        "This file, `goldens.json` and the summaries are written by the generator; do not edit them by hand.",
        "",
        f"Identity: site {SITE}, operator `{OPERATOR}`, `simulated=True`; one pseudonym per golden. Each file is",
        "`<name>/<SUBJECT>_<VISIT>.h5` (the reader refuses a visit file not named after its own identity).",
        "",
        "| golden | file | instruments | steps (faults, from the step's start) | what must show | size |",
        "|---|---|---|---|---|---|",
    ]
    total = 0
    for g in GOLDENS:
        entry = index.get(g.name)
        size = int(entry["bytes"]) if entry else 0  # type: ignore[call-overload]
        total += size
        claims = "; ".join(c.describe() for c in g.claims) or "-"
        instruments = ", ".join(_INSTRUMENT[s] for s in g.sources)
        lines.append(f"| `{g.name}` | `{g.name}/{g.key}.h5` | {instruments} | {_steps(g)} | {claims} | "
                     f"{_mb(size) if entry else 'missing'} |")
    lines += [
        "",
        "What each is for: " + "; ".join(f"`{g.name}`: {g.about}" for g in GOLDENS) + ".",
        "",
        f"About {_mb(total)} in all; the budget is {MAX_TOTAL_BYTES // (1024 * 1024)} MB (the generator fails "
        "past it).",
        "",
        "## Regenerating (when a change of the recorded data or events is intended)",
        "",
        "```",
        "make goldens                                     # all of them (about a minute)",
        ".venv/bin/python -m tests.goldens.regenerate emg_unplug   # or some",
        "```",
        "",
        "The generator records each golden afresh, refuses it (replacing nothing) unless it verifies, shows every",
        "fault its definition claims (`tests/goldens/definitions.py`) and holds no host path, host or user name,",
        "then rewrites the `.h5`, `<name>.summary.txt`, `goldens.json` and this README, and prints for each",
        "summary whether its structure changed: the keys of lines (streams, gaps, scans, QC entries, events by",
        "kind, name, stream and step) that appeared or went away, and how many lines changed only in value.",
        "",
        "## Reviewing a regeneration",
        "",
        "A fresh recording always differs from the last one in its samples and times (real threads against real",
        "simulated wires, not lock-stepped), so every regenerated `.h5` shows as changed, in size and SHA-256 in",
        "`goldens.json`. The review is the diff of the `<name>.summary.txt` files: sample counts and times move a",
        "little run to run; streams, channels, event names, steps, gaps, scans or QC entries that appear,",
        "disappear or change meaning are the change under review. A code change that alters what is recorded",
        "without a regeneration fails CI instead.",
        "",
    ]
    return "\n".join(lines)
