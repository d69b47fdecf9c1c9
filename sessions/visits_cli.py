"""`amuse-acq visits [SUBJECT] [--data-dir DIR] [--json]`: every subject's visits, as the data directory holds them
(`sessions.visit_list`), with each follow-up visit's window (`sessions.visit_windows`, docs/visits.md); what it
prints is built by `sessions.visits_report`.

Problems (a file not in the manifest, a damaged file, a manifest line whose file is gone) are printed, never
fatal: exit 0 whatever the directory holds, 2 for refused input (a missing data directory, a bad subject id).
A listing writes nothing. The parser is registered without importing the listing (h5py, numpy: 0.7 s), which
only `cmd_visits` loads.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path
from typing import Any


def add_visits_parser(sub: Any, *, subject_help: str = "subject pseudonym", config_help: str = "") -> None:
    """Register `visits` on the `amuse-acq` sub-parsers."""
    v = sub.add_parser(
        "visits", help="list each subject's visits: state, start, window (from the files in the data directory)",
        description="List the visits of every subject (or of SUBJECT), derived from the sealed files, "
        "MANIFEST.sha256, and the .open/, .abandoned/ and .unrecoverable/ folders of the data directory: state "
        "(sealed, recovered, open, recovering, crashed, abandoned, unrecoverable, unreadable, missing), start "
        "and close, and for W4, W12, W24 the window counted from D0 and whether the visit was in it. A replay "
        "is flagged and never counts as the subject's visit. Writes nothing; docs/visits.md.")
    v.add_argument("subject", nargs="?", default=None, help=f"only this {subject_help}")
    v.add_argument("--data-dir", default=None, help="default from the configuration (data); must exist")
    v.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    v.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)


def cmd_visits(args: argparse.Namespace, *, now: _dt.datetime | None = None) -> int:
    """`now`: the time today's window status is judged at (default the wall clock, UTC)."""
    from sessions.cli import CliError, _settings
    from sessions.cli_args import one_line
    from sessions.subject import validate_subject
    from sessions.visit_list import list_visits
    from sessions.visits_report import report_lines, visits_report

    settings = _settings(args)
    subject = None
    if args.subject is not None:
        subject = validate_subject(args.subject, pattern=settings.subject_pattern, max_len=settings.subject_max_len)
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        raise CliError(f"data directory {data_dir} does not exist or is not a directory (is the data disk mounted?)")
    visits = list_visits(data_dir, subject=subject, windows=settings.visit_windows)
    at = now or _dt.datetime.now(_dt.timezone.utc)
    report = visits_report(visits, settings.visit_windows, at=at, subject=subject)
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    for line in report_lines(report):
        print(one_line(line))
    return 0


def add_override_argument(parser: argparse.ArgumentParser) -> None:
    """`--override REASON` on a command that opens a visit (`visit run`): lets an overridable window refusal
    through (docs/visits.md); the reason and the operator are recorded in the visit file and the audit trail."""
    parser.add_argument("--override", default=None, metavar="REASON",
                        help="open the visit although the window rule refuses it (before D0, no D0, out of its "
                             "window): why, in one line (3-500 characters; no patient names); recorded")


def override_from_args(args: argparse.Namespace, operator: str) -> Any:
    """The `WindowOverride` of `--override REASON` given by `operator`, or None; a bad reason is one line
    (`ValueError` inside a pydantic `ValidationError`, which the CLI prints as refused, exit 2)."""
    if getattr(args, "override", None) is None:
        return None
    from sessions.visit_windows import WindowOverride

    return WindowOverride(reason=args.override, operator=operator)
