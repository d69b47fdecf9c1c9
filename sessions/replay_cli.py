"""`amuse-acq replay` and `amuse-acq compare`: the parser of each and what it runs (issue 9, being built)."""

from __future__ import annotations

import argparse
from typing import Any


def add_replay_parsers(sub: Any, *, subject_help: str, visit_help: str, operator_help: str, config_help: str) -> None:
    """Register `replay` and `compare` on the `amuse-acq` sub-parsers."""
    r = sub.add_parser("replay", help="replay a sealed visit: into a data directory (deterministic) or on LSL")
    r.add_argument("file")
    c = sub.add_parser("compare", help="compare two visit files: stream data, device_seq, t_lsl, gaps, scans, events")
    c.add_argument("a")
    c.add_argument("b")


def cmd_replay(args: argparse.Namespace) -> int:
    raise NotImplementedError("replay is being built (issue 9)")


def cmd_compare(args: argparse.Namespace) -> int:
    raise NotImplementedError("compare is being built (issue 9)")
