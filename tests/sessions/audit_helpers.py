"""Shared helpers of the audit tests: deterministic clocks, chains to tamper with, and the tampering itself.

Every tamper function takes the stored lines of a chain (in file order) and returns the tampered lines, so the
same tampering applies to a daily log (`write_log`) and to a sealed visit file's `/audit` (`write_visit_audit`).
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from sessions.audit.entry import AuditEntry, parse_line, seal_entry
from sessions.audit.trail import AuditTrail


class Clocks:
    """A UTC clock on `day` and an LSL clock, each advancing one step per call."""

    def __init__(self, day: str = "2026-11-25", start_s: int = 8 * 3600) -> None:
        self.day = day
        self._s = start_s
        self._t = 1000.0

    def utc(self) -> str:
        self._s += 1
        h, rest = divmod(self._s, 3600)
        m, sec = divmod(rest, 60)
        return f"{self.day}T{h:02d}:{m:02d}:{sec:02d}.000000Z"

    def lsl(self) -> float:
        self._t += 0.25
        return self._t


def machine_trail(data_dir: Path, day: str = "2026-11-25", *, uid: int = 1000) -> AuditTrail:
    c = Clocks(day)
    return AuditTrail(data_dir, uid=uid, clock=c.lsl, utc=c.utc)


def write_machine_log(data_dir: Path, n: int, day: str = "2026-11-25") -> Path:
    """A daily log of a genesis and `n` entries; returns its path."""
    trail = machine_trail(data_dir, day)
    for i in range(n):
        trail.record("device.checked", operator="tech1", payload={"source": f"dev{i}", "ok": i % 2 == 0})
    return data_dir / "audit" / f"{day}.jsonl"


# -- reading and writing the two kinds of store ----------------------------------------------------------------
def read_log(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write_log(path: Path, lines: list[str], *, newline: bool = True) -> None:
    path.write_text("\n".join(lines) + ("\n" if newline and lines else ""))


def writable_copy(src: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    shutil.copy(src, dest)
    dest.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return dest


def read_visit_audit(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in f["audit/entries"][:]]


def write_visit_audit(path: Path, lines: list[str]) -> None:
    """Rewrite `/audit/entries` of a (writable) copy, as an editor with h5py would."""
    with h5py.File(path, "r+") as f:
        del f["audit/entries"]
        f["audit"].create_dataset("entries", data=np.array(lines, dtype=object), shape=(len(lines),),
                                  dtype=h5py.string_dtype("utf-8"))


# -- tampering ---------------------------------------------------------------------------------------------------
def _entry(lines: list[str], i: int) -> AuditEntry:
    return parse_line(lines[i])


def _dump(d: dict[str, object]) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def edit_payload(lines: list[str], i: int) -> list[str]:
    d = json.loads(lines[i])
    d["payload"] = {**d["payload"], "ok": "changed"}
    return [*lines[:i], _dump(d), *lines[i + 1:]]


def edit_field(lines: list[str], i: int, key: str, value: object) -> list[str]:
    d = json.loads(lines[i])
    d[key] = value
    return [*lines[:i], _dump(d), *lines[i + 1:]]


def edit_hash(lines: list[str], i: int) -> list[str]:
    d = json.loads(lines[i])
    d["hash"] = ("f" if d["hash"][0] != "f" else "e") + d["hash"][1:]
    return [*lines[:i], _dump(d), *lines[i + 1:]]


def edit_and_rehash(lines: list[str], i: int) -> list[str]:
    """Change an entry's payload and recompute its own hash (the next entry's prev then no longer matches)."""
    e = _entry(lines, i)
    forged = seal_entry(**{**e.model_dump(exclude={"hash", "ref"}), "payload": {"ok": "rewritten"}, "ref": e.ref})
    return [*lines[:i], forged.line(), *lines[i + 1:]]


def remove(lines: list[str], i: int) -> list[str]:
    return [*lines[:i], *lines[i + 1:]]


def insert_forged(lines: list[str], i: int) -> list[str]:
    """A well-formed entry with the seq of line `i`, chained to the line before it, put before line `i`."""
    before = _entry(lines, i - 1)
    forged = seal_entry(seq=before.seq + 1, utc=before.utc, t_lsl=before.t_lsl, operator="intruder", uid=0,
                        action="note.added", payload={"note": "forged"}, chain=before.chain, prev=before.hash)
    return [*lines[:i], forged.line(), *lines[i:]]


def insert_copy(lines: list[str], src: int, at: int) -> list[str]:
    return [*lines[:at], lines[src], *lines[at:]]


def swap(lines: list[str], i: int, j: int) -> list[str]:
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


def drop_last(lines: list[str]) -> list[str]:
    return lines[:-1]


def cut_last(lines: list[str]) -> list[str]:
    return [*lines[:-1], lines[-1][: len(lines[-1]) // 2]]


def rechain(entries: list[AuditEntry], *, start_prev: str | None = None) -> list[str]:
    """The lines of `entries` re-sealed in order with fresh seqs and hashes: what an editor who recomputes the
    whole chain produces (each entry's chain, ref and content kept)."""
    out: list[str] = []
    prev = start_prev if start_prev is not None else entries[0].prev
    for seq, e in enumerate(entries):
        fields = e.model_dump(exclude={"hash", "seq", "prev", "ref"})
        sealed = seal_entry(seq=seq, prev=prev, ref=e.ref, **fields)
        out.append(sealed.line())
        prev = sealed.hash
    return out


Tamper = Callable[[list[str]], list[str]]
