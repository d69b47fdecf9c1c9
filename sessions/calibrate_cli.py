"""`amuse-acq calibrate KIND`: the parser and what it runs (issue 9, being built)."""

from __future__ import annotations

import argparse
from typing import Any


def add_calibrate_parser(sub: Any, *, operator_help: str, config_help: str) -> None:
    """Register `calibrate` on the `amuse-acq` sub-parsers."""
    c = sub.add_parser("calibrate", help="run a calibration procedure and store its record")
    c.add_argument("kind")


def cmd_calibrate(args: argparse.Namespace) -> int:
    raise NotImplementedError("calibrate is being built (issue 9)")
