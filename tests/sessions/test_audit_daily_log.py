"""The daily audit logs: genesis, one chain per day continued across days, head file, torn tail, several writers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sessions.audit.daily_log import read_head
from sessions.audit.entry import GENESIS, ZERO_HASH, parse_line
from sessions.audit.errors import AuditWriteError
from sessions.audit.verify import verify_path
from tests.sessions.audit_helpers import machine_trail, read_log, write_log, write_machine_log

REPO = Path(__file__).resolve().parents[2]


def test_a_new_log_starts_with_a_genesis_and_chains_every_entry(tmp_path: Path) -> None:
    log = write_machine_log(tmp_path, 4)
    entries = [parse_line(x) for x in read_log(log)]
    assert [e.seq for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0].action == GENESIS and entries[0].prev == ZERO_HASH
    assert entries[0].payload == {"format": "amuse-audit/1", "previous": None}
    assert all(b.prev == a.hash for a, b in zip(entries, entries[1:]))
    assert {e.chain for e in entries} == {"day/2026-11-25"}
    assert entries[1].uid == 1000 and entries[1].operator == "tech1" and entries[1].t_lsl == 1000.25
    head = read_head(log)
    assert head is not None and (head.seq, head.hash, head.log) == (4, entries[-1].hash, log.name)
    assert verify_path(log).ok


def test_the_next_day_continues_the_last_entry_of_the_day_before(tmp_path: Path) -> None:
    first = write_machine_log(tmp_path, 2, day="2026-11-24")
    second = write_machine_log(tmp_path, 1, day="2026-11-26")
    last = parse_line(read_log(first)[-1])
    genesis = parse_line(read_log(second)[0])
    assert genesis.prev == last.hash
    assert genesis.payload["previous"] == {"log": first.name, "seq": last.seq, "hash": last.hash}
    assert verify_path(tmp_path).ok


def test_an_entry_waiting_over_midnight_goes_to_the_later_log(tmp_path: Path) -> None:
    write_machine_log(tmp_path, 1, day="2026-11-26")
    late = machine_trail(tmp_path, day="2026-11-25").record("device.checked", operator="tech1", payload={})
    assert late.chain == "day/2026-11-26" and late.seq == 2
    assert not (tmp_path / "audit" / "2026-11-25.jsonl").exists()
    assert verify_path(tmp_path).ok


def test_a_torn_last_line_is_kept_as_evidence_and_the_chain_goes_on(tmp_path: Path) -> None:
    log = write_machine_log(tmp_path, 3)
    lines = read_log(log)
    write_log(log, [*lines, lines[-1][:40]], newline=False)  # a power cut in the middle of a write
    e = machine_trail(tmp_path).record("device.checked", operator="tech1", payload={"source": "x"})
    assert e.seq == 4 and e.prev == parse_line(lines[-1]).hash
    problems = verify_path(log).problems
    assert [(p.kind, p.position) for p in problems] == [("truncated", "line 5")], problems  # the fragment, named


def test_a_log_whose_last_entry_is_damaged_is_not_appended_to(tmp_path: Path) -> None:
    log = write_machine_log(tmp_path, 2)
    lines = read_log(log)
    write_log(log, [*lines[:-1], lines[-1].replace('"ok":false', '"ok":true')])
    size = log.stat().st_size
    with pytest.raises(AuditWriteError, match=r"2026-11-25.jsonl: its last entry cannot be read .*audit verify"):
        machine_trail(tmp_path).record("device.checked", operator="tech1", payload={})
    assert log.stat().st_size == size


def test_writers_in_several_processes_make_one_intact_chain(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from sessions.audit.trail import AuditTrail
        t = AuditTrail(Path({str(tmp_path)!r}), uid=int(sys.argv[1]), clock=lambda: 1.0,
                       utc=lambda: "2026-11-25T10:00:00.000000Z")
        for i in range(25):
            t.record("device.checked", operator="tech1", payload={{"source": "w" + sys.argv[1], "i": i}})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(uid)]) for uid in (2001, 2002, 2003)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    entries = [parse_line(x) for x in read_log(tmp_path / "audit" / "2026-11-25.jsonl")]
    assert [e.seq for e in entries] == list(range(76))
    for uid in (2001, 2002, 2003):  # each writer's entries all there, in its own order
        assert [e.payload["i"] for e in entries if e.uid == uid and e.seq > 0] == list(range(25))
    assert verify_path(tmp_path).ok
    assert json.loads((tmp_path / "audit" / "2026-11-25.head").read_text())["seq"] == 75
