"""What changed between two summaries of a golden, in a few lines: the structure, not the run-to-run noise.

A fresh recording changes every digest, time and sample count of its summary, so the unified diff of a
regeneration is all lines (git shows it in full). What a reviewer needs first is whether the *structure* changed:
a stream, channel set, gap, scan, QC entry or event that appeared or went away. Each summary line is reduced to
its key (the text before the first colon; for an event its kind, name, stream, step and repetition, without its
time and payload), and the keys are compared as multisets.
"""

from __future__ import annotations

from collections import Counter


def line_key(line: str) -> str:
    """'event t=12.3 device link.disconnected stream=emg_a step=x rep=1 payload={...}' -> 'event device
    link.disconnected stream=emg_a step=x rep=1'; 'stream emg_a samples: 3273 x 4 uint16' -> 'stream emg_a
    samples'; a gap row's key leaves out its numbers (`stream emg_a gap 0`)."""
    if line.startswith("event "):
        head = line.split(" payload=", 1)[0]
        return " ".join(w for w in head.split() if not w.startswith("t="))
    return line.split(":", 1)[0]


def summary_changes(old: list[str], new: list[str]) -> list[str]:
    """One line per key gone or come (`- key` / `+ key`), then how many lines changed only in value."""
    ko, kn = Counter(map(line_key, old)), Counter(map(line_key, new))
    out = [f"- {k}" for k in ko if ko[k] > kn[k] for _ in range(ko[k] - kn[k])]
    out += [f"+ {k}" for k in kn if kn[k] > ko[k] for _ in range(kn[k] - ko[k])]
    changed = len(set(new) - set(old))
    if not old:
        return [f"new summary, {len(new)} lines"]
    head = "structure unchanged" if not out else f"structure changed ({len(out)} line(s) below)"
    return [f"{head}; {changed} of {len(new)} lines changed value (digests, times, counts)", *out]
