"""`amuse-acq audit verify FILE|DIR`: check audit chains (a visit file's `/audit`, a daily log, or a folder of both).

Output, one line each: per source a status line (`OK  <source>  (n entries, seq 0..m, <chain>)` or `FAILED
<source>  (...)`), then one `FAILED  <source>: seq N, <line|row> L: <kind>: <what>` line per problem (kind: edited,
removed, inserted, reordered, truncated, bad genesis, unreadable), last a summary line. Exit 0 when every chain is
intact, 1 on any problem, 2 when the target is not a visit file, a daily log or a folder holding one. Everything
printed is escaped (a hostile line cannot drive the terminal). What is checked: docs/audit.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_WIDE = 2000  # escape, but do not cut, the lines printed


def add_audit_parser(sub: Any) -> None:
    """Register `audit verify` on the `amuse-acq` sub-parsers."""
    a = sub.add_parser("audit", help="the audit trail: verify its hash chains",
                       description="The audit trail (docs/audit.md): every operator action, override, gate result "
                       "and device event, hash-chained, in each visit file's /audit and in the daily logs "
                       "DATA_DIR/audit/YYYY-MM-DD.jsonl.")
    what = a.add_subparsers(dest="audit_cmd", required=True, metavar="COMMAND")
    v = what.add_parser("verify", help="report every entry edited, removed, inserted, reordered or truncated",
                        description="Check the hash chain of a visit file's /audit, of a daily audit log, or of "
                        "every one in a folder (a DATA_DIR, or its audit/ folder), and across them: each day "
                        "continues the day before, each visit entry has its twin in the daily log. One line per "
                        "problem naming the entry (seq, line or row) and the kind. Exit 0 intact, 1 any problem, "
                        "2 bad input.")
    v.add_argument("target", help="a visit file (*.h5), a daily log (YYYY-MM-DD.jsonl) or a folder")


def cmd_audit(args: argparse.Namespace) -> int:
    from sessions.audit.verify import AuditTargetError, verify_path
    from sessions.cli import CliError
    from sessions.cli_args import one_line

    try:
        report = verify_path(Path(args.target))
    except AuditTargetError as exc:
        raise CliError(str(exc), code=2) from None
    for rep in report.sources:
        last = rep.last
        if rep.ok:
            span = f"seq 0..{last.seq}" if last is not None else "no entry"
            print(one_line(f"OK  {rep.source}  ({len(rep.entries)} entries, {span}, {rep.chain})", _WIDE))
            continue
        print(one_line(f"FAILED  {rep.source}  ({rep.lines} stored, {len(rep.problems)} problem(s))", _WIDE))
        for p in rep.problems:
            print(one_line(f"FAILED  {p.text()}", _WIDE))
    bad = [r for r in report.sources if not r.ok]
    print(f"audit verify: {len(report.sources)} chain(s), {len(report.sources) - len(bad)} intact, {len(bad)} "
          f"FAILED ({len(report.problems)} problem(s))")
    return 1 if bad else 0
