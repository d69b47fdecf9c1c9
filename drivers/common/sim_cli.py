"""Pieces every `amuse-acq simulate DEVICE` command shares: `--fault NAME[=COUNT]` parsing, arming, and
running until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Iterable, Sequence

from drivers.common.faults import FaultSwitchboard


def fault_type(known: Sequence[str]) -> Callable[[str], tuple[str, int]]:
    """argparse `type=` for `NAME[=COUNT]`: a known fault name and a count >= 1, else a clear usage error."""

    def parse(text: str) -> tuple[str, int]:
        name, _, count = text.partition("=")
        if name not in known:
            raise argparse.ArgumentTypeError(f"unknown fault {name!r}; choose from {', '.join(known)}")
        try:
            n = int(count) if count else 1
        except ValueError:
            raise argparse.ArgumentTypeError(f"fault count {count!r} is not an integer") from None
        if n < 1:
            raise argparse.ArgumentTypeError("fault count must be >= 1")
        return name, n

    return parse


def add_fault_option(parser: argparse.ArgumentParser, known: Sequence[str]) -> None:
    parser.add_argument("--fault", action="append", type=fault_type(known), default=[], metavar="NAME[=COUNT]",
                        help=f"arm a fault ({', '.join(known)}); repeatable")


def arm_all(board: FaultSwitchboard, faults: Iterable[tuple[str, int]]) -> None:
    for name, n in faults:
        board.arm(name, n)  # type: ignore[arg-type]


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (the simulate commands run until then)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
