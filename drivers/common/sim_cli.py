"""What every `amuse-acq simulate DEVICE` command shares: the command shape, its options, arming, running.

Each simulator module exposes one `SimCommand` (the stabilometry module two): `add_arguments(parser)` registers
its own options on the parser it is given (a real subparser of `amuse-acq simulate`, so `--help` lists them) and
`run(args)` serves until SIGINT/SIGTERM. The options that mean the same thing have the same name on every device:

    --fault NAME[=COUNT]   arm a fault the simulator implements (repeatable; anything else is refused)
    --fault-every SECONDS  arm the listed faults again every SECONDS (0, the default: once, at start)
    --drift-ppm PPM        device clock error (100 = 100 ppm fast)
    --stall-s / --unplug-s how long a stall / an unplug lasts
    --seed N               the generator's seed
    --link PATH            the stable symlink a serial simulator serves its pty behind
    --step STEP            the protocol step the simulated subject performs

The first line a simulator prints (flushed) is the path it serves; a refused option is one line and exit 2, a
failed operation (no pty, an unwritable path) one line and exit 1.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from drivers.common.faults import FaultSettings, FaultSwitchboard


class SimulatorRefused(ValueError):
    """An option combination the simulator cannot serve (exit 2), said in one line."""


@dataclass(frozen=True)
class SimCommand:
    """One `amuse-acq simulate NAME` sub-command."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- option types ----------------------------------------------------------------------------------------
def fault_type(known: Sequence[str]) -> Callable[[str], tuple[str, int]]:
    """argparse `type=` for `NAME[=COUNT]`: a fault this simulator implements and a count >= 1."""

    def parse(text: str) -> tuple[str, int]:
        name, _, count = text.partition("=")
        if name not in known:
            raise argparse.ArgumentTypeError(f"unknown fault {name!r}; this simulator implements {', '.join(known)}")
        try:
            n = int(count) if count else 1
        except ValueError:
            raise argparse.ArgumentTypeError(f"fault count {count!r} is not an integer") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"fault count must be >= 1, got {n}")
        return name, n

    return parse


def finite_number(text: str, what: str) -> float:
    """A finite float from a command-line word, or one line naming `what` was expected (also used by sessions.cli_args)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number ({what}), got {text!r}")
    return value


def seconds_ge0(text: str) -> float:
    """Seconds >= 0 (`--fault-every`: 0 = once)."""
    value = finite_number(text, "seconds >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def seconds_gt0(text: str) -> float:
    """Seconds > 0 (`--stall-s`, `--unplug-s`, `--interval`)."""
    value = finite_number(text, "seconds > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def ppm(text: str) -> float:
    """A clock error in ppm, |ppm| < 10000 (1 %: far beyond any crystal; a typo, not a device)."""
    value = finite_number(text, "a clock error in ppm")
    if abs(value) >= 10_000:
        raise argparse.ArgumentTypeError(f"expected a clock error between -10000 and 10000 ppm, got {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number > 0 (`--rate`, `--mass-kg`)."""
    value = finite_number(text, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


# -- shared options --------------------------------------------------------------------------------------
def add_fault_options(parser: argparse.ArgumentParser, known: Sequence[str], *, timed: bool = True,
                      drift: bool = True) -> None:
    """`--fault` (always) and, for a device that streams in real time (`timed`), `--fault-every`, `--drift-ppm`
    (unless the device has no clock of its own to drift: `drift=False`), `--stall-s` and `--unplug-s`."""
    parser.add_argument("--fault", action="append", type=fault_type(known), default=[], metavar="NAME[=COUNT]",
                        help=f"arm a fault: {', '.join(known)} (repeatable; COUNT times, default 1)")
    if not timed:
        return
    d = FaultSettings()
    parser.add_argument("--fault-every", type=seconds_ge0, default=0.0, metavar="SECONDS",
                        help="arm the listed faults again every SECONDS (default 0: once, at start)")
    if drift:
        parser.add_argument("--drift-ppm", type=ppm, default=0.0, metavar="PPM",
                            help="device clock error, ppm (100 = 100 ppm fast; default 0)")
    parser.add_argument("--stall-s", type=seconds_gt0, default=d.stall_s, metavar="SECONDS",
                        help=f"how long a 'stall' fault lasts (default {d.stall_s})")
    parser.add_argument("--unplug-s", type=seconds_gt0, default=d.unplug_s, metavar="SECONDS",
                        help=f"how long an 'unplug' fault lasts before the device comes back (default {d.unplug_s})")


def add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated signals and faults (default 0)")


def add_link(parser: argparse.ArgumentParser, default: str = "the /dev/pts path itself") -> None:
    parser.add_argument("--link", default=None, metavar="PATH",
                        help=f"stable symlink to serve the pty behind, like a udev /dev/serial/by-id path "
                             f"(default: {default})")


def add_step(parser: argparse.ArgumentParser, default: str | None) -> None:
    """`--step`, one of the protocol's step names (a typo is refused, not simulated as 'idle')."""
    from drivers.signals.steps import STEPS

    parser.add_argument("--step", default=default, choices=STEPS, metavar="STEP",
                        help=f"protocol step the simulated subject performs: {', '.join(STEPS)} "
                             f"(default {default or 'idle'})")


def switchboard(args: argparse.Namespace) -> FaultSwitchboard:
    """The fault switchboard the options describe, with the listed faults armed once."""
    settings = FaultSettings(drift_ppm=getattr(args, "drift_ppm", 0.0), stall_s=getattr(args, "stall_s", 0.5),
                             unplug_s=getattr(args, "unplug_s", 0.5))
    faults = FaultSwitchboard(settings)
    arm_all(faults, args.fault)
    return faults


def arm_all(faults: FaultSwitchboard, armed: Iterable[tuple[str, int]]) -> None:
    for name, n in armed:
        faults.arm(name, n)  # type: ignore[arg-type]


@contextmanager
def building(what: str) -> Iterator[None]:
    """A ValueError while the simulator is made (an option it cannot serve) becomes one refused line (exit 2)."""
    try:
        yield
    except SimulatorRefused:
        raise
    except ValueError as exc:
        raise SimulatorRefused(f"{what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


# -- running ---------------------------------------------------------------------------------------------
@contextmanager
def signal_stop() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (the simulate commands run until then); the handlers are restored after."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_until_stopped(stop: threading.Event, faults: FaultSwitchboard, args: argparse.Namespace) -> None:
    """Wait for `stop`, arming the listed faults again every `--fault-every` seconds (soak runs)."""
    every = float(getattr(args, "fault_every", 0.0) or 0.0)
    while not stop.wait(every if every > 0 else 0.5):
        if every > 0:
            arm_all(faults, args.fault)


def announce(path: str) -> None:
    """The first line of every simulator: the path it serves (tests and the demo read it)."""
    print(path, flush=True)


def standalone(commands: Sequence[SimCommand], argv: Sequence[str] | None = None) -> int:
    """`python -m drivers....simulate_cli [NAME] ...`: the same command outside `amuse-acq` (benches, tests).

    With one command the arguments are its options; with several, the first argument names the command.
    """
    args_in = list(sys.argv[1:] if argv is None else argv)
    if len(commands) == 1:
        cmd = commands[0]
    else:
        by_name = {c.name: c for c in commands}
        if not args_in or args_in[0] not in by_name:
            given = args_in[0] if args_in else ""
            print(f"unknown simulator {given!r}: choose {' or '.join(by_name)}", file=sys.stderr)
            return 2
        cmd = by_name[args_in.pop(0)]
    parser = argparse.ArgumentParser(prog=f"amuse-acq simulate {cmd.name}", description=cmd.description)
    cmd.add_arguments(parser)
    args = parser.parse_args(args_in)
    try:
        return cmd.run(args)
    except SimulatorRefused as exc:
        print(f"amuse-acq simulate {cmd.name}: refused: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # a symlink or a rename names two paths: both, or "no such file: /dev/pts/3" hides the missing directory
        where = (f": {exc.filename}" if exc.filename else "") + (f" -> {exc.filename2}" if exc.filename2 else "")
        print(f"amuse-acq simulate {cmd.name}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
