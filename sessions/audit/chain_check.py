"""Check one chain of stored lines and name each entry that was edited, removed, inserted, reordered or cut off.

A hash chain only says "something is wrong from here"; a data manager needs to know *what* and *which entry*. So
the check reconstructs the chain the entries describe (each has its `seq` and the hash of the one before it,
`prev`) and compares it with what the lines hold:

- **edited**: an entry whose content no longer gives its hash, or not in canonical form; an entry rewritten
  *with* its hash recomputed shows as a broken link (the next entry's `prev` is not its hash), an entry replaced
  as one whose two neighbours both fail to link to it, a renumbered one as a seq jump its `prev` contradicts;
- **removed**: seqs missing between two entries (and the head file missing, for a daily log);
- **inserted**: an empty line, a second entry with a seq already present (the one the chain goes on from is kept), an entry that
  links to nothing, an entry of another chain, a genesis inside the chain, entries after a visit's closing entry
  or past a daily log's head by more than the one a crash can leave;
- **reordered**: an entry out of seq order in the file whose links still fit (the longest run in order stays);
- **truncated**: the last line cut (not JSON, or no line end), a visit chain without its closing entry, a daily
  log that ends before the entry its head names;
- **bad genesis**: no entry at all, a chain that does not start with a genesis at seq 0, a genesis whose `prev`
  or format is wrong.

An entry whose content gives its hash and whose links fit is intact: one problem never hides another, and one
edit is reported once (an edited entry explains the broken link beside it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sessions.audit.daily_log import Head
from sessions.audit.entry import (CLOSED, FORMAT, GENESIS, ZERO_HASH, AuditEntry, AuditLineError, StoredEntry,
                                  decode_line)

ProblemKind = Literal["edited", "removed", "inserted", "reordered", "truncated", "bad genesis", "unreadable"]
_SEQ = re.compile(r'"seq":(\d{1,12})')


class AuditProblem(BaseModel):
    """One thing wrong, at one place: `<source>: seq 12, line 13: edited: <detail>`."""

    model_config = ConfigDict(frozen=True)
    source: str
    kind: ProblemKind
    seq: int | None = None
    position: str = ""
    detail: str

    def text(self) -> str:
        where = ", ".join(x for x in ("" if self.seq is None else f"seq {self.seq}", self.position) if x)
        return f"{self.source}: {where + ': ' if where else ''}{self.kind}: {self.detail}"


class ChainReport(BaseModel):
    """What one source holds: its chain as reconstructed (seq order, inserted entries left out) and its problems."""

    source: str
    chain: str
    entries: list[AuditEntry] = Field(default_factory=list)
    problems: list[AuditProblem] = Field(default_factory=list)
    lines: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def last(self) -> AuditEntry | None:
        return self.entries[-1] if self.entries else None


class _Item(BaseModel):
    index: int
    stored: StoredEntry
    seq: int  # its place in the chain: its seq field, or where its prev puts it when its content was edited

    @property
    def e(self) -> AuditEntry:
        return self.stored.entry

    def anchors(self) -> set[str]:
        """The hashes a next entry may name as `prev`: the stored one, or the one its content gives (an edit of
        the content keeps the first, an edit of the `hash` field the second)."""
        return {self.stored.entry.hash, self.stored.computed}


def _lis(values: list[int]) -> set[int]:
    """Indices of one longest strictly increasing subsequence of `values` (patience sorting, O(n log n))."""
    import bisect

    tails: list[int] = []
    tails_at: list[int] = []
    back: list[int] = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tails_at.append(i)
        else:
            tails[k], tails_at[k] = v, i
        back[i] = tails_at[k - 1] if k else -1
    out: set[int] = set()
    i = tails_at[-1] if tails_at else -1
    while i >= 0:
        out.add(i)
        i = back[i]
    return out


class _Check:
    def __init__(self, source: str, chain: str, position: Callable[[int], str]) -> None:
        self.rep = ChainReport(source=source, chain=chain)
        self.pos = position
        self.cut = False  # the last line was cut off: what is missing at the end is that one, said once

    def add(self, kind: ProblemKind, seq: int | None, index: int | None, detail: str) -> None:
        self.rep.problems.append(AuditProblem(source=self.rep.source, kind=kind, seq=seq, detail=detail,
                                              position="" if index is None else self.pos(index)))

    # -- lines -> entries -------------------------------------------------------------------------------------
    def decode(self, lines: Sequence[str], torn_tail: bool) -> list[_Item]:
        items: list[_Item] = []
        last = len(lines) - 1
        for i, line in enumerate(lines):
            if not line.strip():
                self.add("inserted", None, i, "an empty line")
                continue
            try:
                stored = decode_line(line)
            except AuditLineError as exc:
                m = _SEQ.search(line)
                seq = int(m.group(1)) if m else None
                if i == last:
                    if seq is None and items:  # the seq field is near the end of a line: cut away, it follows
                        seq = items[-1].seq + 1
                    self.cut = True
                    self.add("truncated", seq, i, f"the last entry is cut off ({exc})")
                elif not line.rstrip().endswith("}"):  # a line cut by a crash, the chain going on after it
                    self.add("truncated", seq, i, f"a cut-off line, not an entry ({exc})")
                else:
                    self.add("edited", seq, i, f"not an audit entry ({exc})")
                continue
            if i == last and torn_tail:
                self.cut = True
                self.add("truncated", stored.entry.seq, i, "the last line has no line end (the log was cut there)")
            if stored.entry.chain != self.rep.chain and stored.problem is None:
                self.add("inserted", stored.entry.seq, i, f"an entry of chain {stored.entry.chain}, not of "
                                                          f"{self.rep.chain}")
                continue
            items.append(_Item(index=i, stored=stored, seq=stored.entry.seq))
        self.place_edited(items)
        return items

    def place_edited(self, items: list[_Item]) -> None:
        """An edited entry's fields cannot be trusted, its seq included: if its `prev` is the hash of an intact
        entry, it is the one after that entry (an edited seq field is then one edit, not a removal + insertion)."""
        intact: dict[str, _Item] = {}
        for it in items:
            if it.stored.problem is None:
                for h in it.anchors():
                    intact.setdefault(h, it)
        for it in items:
            if it.stored.problem is None:
                continue
            note = ""
            before = intact.get(it.e.prev)
            if before is not None and before.seq + 1 != it.seq:
                note = f" (its seq field says {it.e.seq})"
                it.seq = before.seq + 1
            if it.e.chain != self.rep.chain:
                note += f" (its chain field says {it.e.chain})"
            self.add("edited", it.seq, it.index, it.stored.problem + note)

    # -- one entry per seq ------------------------------------------------------------------------------------
    def dedupe(self, items: list[_Item]) -> dict[int, _Item]:
        by_seq: dict[int, list[_Item]] = defaultdict(list)
        for it in items:
            by_seq[it.seq].append(it)
        kept: dict[int, _Item] = {}
        for seq, group in by_seq.items():
            if len(group) == 1:
                kept[seq] = group[0]
                continue

            def score(it: _Item) -> tuple[bool, bool, bool, bool, int]:
                """Linked by the next entry, linking to the one before, between them in the file (an exact copy
                put elsewhere is the one out of place), intact, first."""
                nexts, prevs = by_seq.get(seq + 1, []), by_seq.get(seq - 1, [])
                linked_next = any(n.e.prev in it.anchors() for n in nexts)
                linked_prev = any(it.e.prev in p.anchors() for p in prevs)
                between = all(p.index < it.index for p in prevs) and all(n.index > it.index for n in nexts)
                return linked_next, linked_prev, between, it.stored.problem is None, -it.index

            genuine = max(group, key=score)
            kept[seq] = genuine
            for it in group:
                if it is genuine:
                    continue
                if it.e.hash == genuine.e.hash:
                    self.add("inserted", seq, it.index, f"a copy of the entry at {self.pos(genuine.index)}")
                else:
                    self.add("inserted", seq, it.index, f"a second entry seq {seq}: the chain goes on from the one "
                                                        f"at {self.pos(genuine.index)}")
        return kept

    # -- file order -------------------------------------------------------------------------------------------
    def order(self, kept: dict[int, _Item]) -> None:
        in_file = sorted(kept.values(), key=lambda it: it.index)
        in_place = _lis([it.seq for it in in_file])
        for j, it in enumerate(in_file):
            if j in in_place:
                continue
            seq = it.seq
            before, after = kept.get(seq - 1), kept.get(seq + 1)
            fits = (before is not None and it.e.prev in before.anchors()) or (
                after is not None and after.e.prev in it.anchors())
            if fits:
                prev_in_file = in_file[j - 1].seq if j else None
                where = f"after seq {prev_in_file}" if prev_in_file is not None else "first"
                self.add("reordered", seq, it.index, f"out of seq order: it comes {where} in the file")
            else:
                self.add("inserted", seq, it.index, "out of seq order and linked to no entry of the chain")
                del kept[seq]

    # -- links in seq order -----------------------------------------------------------------------------------
    def links(self, kept: dict[int, _Item]) -> None:
        seqs = sorted(kept)
        breaks: list[int] = []
        for a, b in zip(seqs, seqs[1:]):
            ia, ib = kept[a], kept[b]
            linked = ib.e.prev in ia.anchors()
            edited = ia.stored.problem is not None or ib.stored.problem is not None
            if b == a + 1:
                if not linked and not edited:
                    breaks.append(a)
            elif linked:
                if not edited:
                    self.add("edited", b, ib.index, f"numbered {b} but it follows seq {a} directly (its prev is seq "
                                                    f"{a}'s hash): renumbered")
            else:
                missing = f"seq {a + 1}" if b == a + 2 else f"seq {a + 1}..{b - 1}"
                self.add("removed", a + 1, None, f"{missing} missing ({b - a - 1} entr{'y' if b == a + 2 else 'ies'}"
                                                 f" between {self.pos(ia.index)} and {self.pos(ib.index)})")
        i = 0
        while i < len(breaks):
            s = breaks[i]
            if i + 1 < len(breaks) and breaks[i + 1] == s + 1:
                it = kept[s + 1]
                self.add("edited", s + 1, it.index, f"replaced or rewritten with a new hash: neither seq {s} nor "
                                                    f"seq {s + 2} links to it")
                i += 2
            else:
                it = kept[s]
                self.add("edited", s, it.index, f"its hash is not the prev that seq {s + 1} records: it was changed "
                                                f"and its hash recomputed (or seq {s + 1}'s prev was)")
                i += 1

    # -- start and end ----------------------------------------------------------------------------------------
    def genesis(self, kept: dict[int, _Item], *, allowed_prev: Callable[[AuditEntry], str | None]) -> None:
        if not kept:
            self.add("bad genesis", None, None, "no readable entry: the chain has no genesis")
            return
        first = kept[min(kept)]
        if first.seq != 0:
            self.add("bad genesis", first.seq, first.index, f"the chain starts at seq {first.seq}: its genesis "
                                                              "(seq 0) is missing")
        elif first.e.action != GENESIS or first.e.ref is not None:
            self.add("bad genesis", 0, first.index, f"seq 0 is a {first.e.action!r} entry, not the genesis")
        elif first.e.payload.get("format") != FORMAT:
            self.add("bad genesis", 0, first.index, f"the genesis does not name the format {FORMAT}")
        elif (why := allowed_prev(first.e)) is not None:
            self.add("bad genesis", 0, first.index, why)
        for seq, it in sorted(kept.items()):
            if seq > 0 and it.e.action == GENESIS and it.e.ref is None:  # a visit genesis's twin is not one
                self.add("inserted", seq, it.index, "a genesis inside the chain")

    def closing(self, kept: dict[int, _Item]) -> None:
        """A visit chain ends with its closing entry, and nothing follows it."""
        if not kept:
            return
        closed = [s for s, it in sorted(kept.items()) if it.e.action == CLOSED]
        last = kept[max(kept)]
        if not closed:
            if self.cut:
                return
            self.add("truncated", last.seq, last.index, f"the chain ends without its closing entry ({CLOSED}): its "
                                                          "last entries were removed, or the visit was not closed "
                                                          "normally")
            return
        for s in sorted(kept):
            if s > closed[0]:
                self.add("inserted", s, kept[s].index, f"after the closing entry (seq {closed[0]})")

    def head(self, kept: dict[int, _Item], head: Head | None, head_problem: str | None, log_name: str) -> None:
        """A daily log ends at the entry its head names, or one after it (a crash between the two writes)."""
        if head_problem is not None:
            self.add("edited", None, None, f"its head file is not a head ({head_problem})")
            return
        if head is None:
            if len(kept) > 2:
                self.add("removed", None, None, "its head file is missing: a cut at the end of the log cannot be seen")
            return
        if head.log != log_name:
            self.add("edited", None, None, f"its head file names the log {head.log!r}")
        if not kept:
            return
        last = max(kept)
        if head.seq > last and not (self.cut and head.seq == last + 1):
            missing = f"seq {last + 1}" if head.seq == last + 1 else f"seq {last + 1}..{head.seq}"
            self.add("truncated", last + 1, None, f"{missing} missing at the end (the head file records seq "
                                                  f"{head.seq})")
        elif head.seq in kept and head.hash not in kept[head.seq].anchors():
            self.add("edited", head.seq, kept[head.seq].index, "not the entry the head file records")
        if last > head.seq + 1:
            self.add("inserted", head.seq + 2, kept[last].index if head.seq + 2 == last else None,
                     f"seq {head.seq + 2}..{last} after the last entry the head file records (seq {head.seq})")


def check_chain(lines: Sequence[str], *, source: str, chain: str, position: Callable[[int], str],
                torn_tail: bool = False, closing: bool = False, head: Head | None = None,
                head_problem: str | None = None, head_log: str | None = None,
                allowed_prev: Callable[[AuditEntry], str | None] | None = None) -> ChainReport:
    """Check the stored `lines` of `chain` (in file order). `closing`: a visit chain (must end with its closing
    entry). `head_log`: a daily log of that name, with its `head` (or the `head_problem` reading it).
    `allowed_prev(genesis)`: None if the genesis's `prev` is right, else why not (default: zeros)."""
    c = _Check(source, chain, position)
    c.rep.lines = len(lines)
    kept = c.dedupe(c.decode(lines, torn_tail))
    c.order(kept)
    c.links(kept)
    c.genesis(kept, allowed_prev=allowed_prev or (
        lambda g: None if g.prev == ZERO_HASH else "its prev is not zeros (a visit chain continues nothing)"))
    if closing:
        c.closing(kept)
    if head_log is not None:
        c.head(kept, head, head_problem, head_log)
    c.rep.entries = [kept[s].e for s in sorted(kept)]
    c.rep.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return c.rep
