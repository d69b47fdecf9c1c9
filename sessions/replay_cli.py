"""`amuse-acq replay` and `amuse-acq compare`: the parser of each and what it runs.

- `replay FILE --into DATA_DIR [--subject ID --visit CODE --operator LOGIN] [--compare] [--create-data-dir]`:
  the deterministic replay through the session manager (`sessions.replay`), as fast as the pipeline runs;
  `--compare` then compares the new file with FILE (`sessions.compare`) and exits 1 on any difference.
- `replay FILE --lsl [--speed X] [--loop] [--wait-consumers SECONDS] [--lsl-suffix TAG]`: the live replay
  on LSL at the recorded timing (`sessions.replay_lsl`, docs/replay-lsl.md); `--lsl-suffix` lets two replays run at
  once. `--into` and `--lsl` are mutually exclusive, one is required.
- `compare A B`: every difference, grouped per stream and per step; exit 0 identical, 1 different, 2 when a file
  cannot be compared (unsealed, altered, not a visit file).

A file the replay refuses (unsealed, tampered, unknown schema) is one line, `replay refused: ...`, exit 1, and
nothing is written to DATA_DIR (the same words as the LSL replay).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

_TAG = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_]{0,39}")


def lsl_suffix(text: str) -> str:
    """`--lsl-suffix TAG`: names and source ids end in `-replay-TAG` (a replay's names always say so); the whole
    suffix is taken too (`--lsl-suffix=-replay-TAG`: argparse reads a value starting with '-' only after '=')."""
    tag = text[len("-replay-"):] if text.startswith("-replay-") else text
    if not _TAG.fullmatch(tag):
        raise argparse.ArgumentTypeError(f"--lsl-suffix takes a tag of up to 40 letters, digits, '-' or '_' (names "
                                         f"then end in -replay-TAG), not {text!r}")
    return f"-replay-{tag}"


def add_replay_parsers(sub: Any, *, subject_help: str, visit_help: str, operator_help: str, config_help: str) -> None:
    """Register `replay` and `compare` on the `amuse-acq` sub-parsers."""
    from sessions.cli_args import duration_seconds, speed_factor

    r = sub.add_parser(
        "replay", help="replay a sealed visit: into a data directory (deterministic) or on LSL",
        description="Replay a sealed, verified visit file. --into DATA_DIR records it again through the session "
        "manager on a virtual clock, as fast as the pipeline runs: the new file holds the same samples, sequence "
        "numbers, times, gaps, scans and events, and says it is a replay (production mode refuses it). --lsl "
        "publishes it live on LSL with its recorded timing. What is compared: docs/replay.md.")
    r.add_argument("file", help="the sealed visit file to replay")
    where = r.add_mutually_exclusive_group(required=True)
    where.add_argument("--into", metavar="DATA_DIR", default=None,
                       help="record the replay as a new sealed visit in DATA_DIR (must exist, or --create-data-dir)")
    where.add_argument("--lsl", action="store_true", help="publish the visit live on LSL (docs/replay-lsl.md)")
    r.add_argument("--subject", default=None, help=f"(--into) record under this {subject_help}; default the "
                   "original's")
    r.add_argument("--visit", default=None, help=f"(--into) {visit_help}; default the original's")
    r.add_argument("--operator", default=None, help=f"(--into) {operator_help}; default the original's")
    r.add_argument("--compare", action="store_true",
                   help="(--into) then compare the new file with FILE; exit 1 on any difference")
    r.add_argument("--create-data-dir", action="store_true", help="(--into) create DATA_DIR if missing")
    r.add_argument("--speed", type=speed_factor, default=None, help="(--lsl) playing speed factor > 0 (default 1)")
    r.add_argument("--loop", action="store_true", help="(--lsl) play again and again until SIGINT / SIGTERM")
    r.add_argument("--wait-consumers", type=duration_seconds, default=0.0, metavar="SECONDS",
                   help="(--lsl) wait up to SECONDS for a consumer on every stream before playing (default 0)")
    r.add_argument("--lsl-suffix", type=lsl_suffix, default=None, metavar="TAG",
                   help="(--lsl) end every LSL name and source_id with -replay-TAG instead of -replay, so two "
                   "replays can run at once")
    r.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    c = sub.add_parser("compare", help="compare two visit files: stream data, device_seq, t_lsl, gaps, scans, events",
                       description="Compare two sealed visit files: every sample, sequence number, time stamp, gap, "
                       "scan, calibration record, outcome, QC count and event; not the identity, the wall-clock "
                       "times nor a replay's marking (docs/replay.md). Exit 0 identical, 1 different, 2 when a file "
                       "cannot be compared.")
    c.add_argument("a")
    c.add_argument("b")


def cmd_replay(args: argparse.Namespace) -> int:
    from sessions.cli import CliError

    if args.lsl:
        for opt in ("subject", "visit", "operator"):
            if getattr(args, opt) is not None:
                raise CliError(f"--{opt} applies to a replay --into a data directory, not to --lsl")
        if args.compare or args.create_data_dir:
            raise CliError(f"--{'compare' if args.compare else 'create-data-dir'} applies to --into, not to --lsl")
        if args.speed is None:
            args.speed = 1.0
        from sessions.replay_lsl import run_lsl_replay

        return run_lsl_replay(args)
    if args.speed is not None or args.loop or args.wait_consumers or args.lsl_suffix is not None:
        raise CliError("--speed, --loop, --wait-consumers and --lsl-suffix apply to --lsl, not to --into")
    return _replay_into(args)


def _replay_into(args: argparse.Namespace) -> int:
    from acquisition.visitfile.reader import VisitFile, VisitFileError
    from sessions.cli import CliError, settings_for
    from sessions.cli_args import one_line
    from sessions.compare import compare_visits
    from sessions.replay import replay_into

    src = Path(args.file)
    settings = settings_for(argparse.Namespace(data_dir=args.into, create_data_dir=args.create_data_dir,
                                            config=getattr(args, "config", None)))
    t0 = time.perf_counter()
    try:
        out = replay_into(src, settings, subject=args.subject, visit=args.visit, operator=args.operator)
    except VisitFileError as exc:
        raise CliError(f"replay refused: {exc}", code=1) from None
    took = time.perf_counter() - t0
    with VisitFile.open(out) as vf:
        ident = vf.identity
        events = vf.events(kind="visit_close")
        span = (events[0].t_lsl - ident.started_t_lsl) if events and ident.started_t_lsl is not None else 0.0
    print(one_line(f"replayed: {out.resolve()}"), flush=True)
    if ident.replay_of is not None:
        print(one_line(f"replay of: {ident.replay_of.label}"))
    print(f"took {took:.2f} s for {span:.1f} s of visit" + (f" ({span / took:.0f}x real time)" if took > 0 else ""))
    if not args.compare:
        return 0
    return _print_comparison(compare_visits(src, out), one_line)


def cmd_compare(args: argparse.Namespace) -> int:
    from acquisition.visitfile.reader import VisitFileError
    from sessions.cli import CliError
    from sessions.cli_args import one_line
    from sessions.compare import compare_visits

    for p in (Path(args.a), Path(args.b)):
        if not p.is_file():
            raise CliError(f"{p}: no such file")
    try:
        result = compare_visits(Path(args.a), Path(args.b))
    except VisitFileError as exc:
        raise CliError(f"compare refused: {exc}", code=2) from None
    return _print_comparison(result, one_line)


def _print_comparison(result: Any, one_line: Any) -> int:
    if result.identical:
        print(one_line(f"identical: {result.a.name} and {result.b.name} hold the same recording "
                       "(what is compared: docs/replay.md)"))
        return 0
    for line in result.differences:
        print(one_line(line, 2000))
    print(one_line(f"different: {len(result.differences)} difference(s) between {result.a.name} (A) and "
                   f"{result.b.name} (B)"))
    return 1
