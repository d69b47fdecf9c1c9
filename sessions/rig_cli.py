"""`amuse-acq rig check` and `amuse-acq rig simulate`: the parser of each and what it runs (docs/rig.md).

- `rig check [--rig FILE] [--seconds S]`: open every device of the rig file, print what answered (model, serial,
  firmware, link) and a second of signal per stream; exit 1 naming each device missing, not the expected one or
  silent; a rig file that cannot be used is one line, exit 2.
- `rig simulate --out FILE [--fault DEVICE:NAME[=COUNT]] [--fault-every S] [--seed N]`: every wire-level
  simulator and the rig file that points at them; the file's path is the first line; runs until SIGINT/SIGTERM.

The parser imports nothing heavy (it is built for every command); the rig modules load when a rig command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: `rig check` without --rig: the rig file in the current directory
DEFAULT_RIG_FILE = Path("rig.toml")


def add_rig_parser(sub: Any) -> None:
    """Register `rig check` and `rig simulate` on the `amuse-acq` sub-parsers."""
    from drivers.common.sim_cli import seconds_ge0, seconds_gt0
    from sessions.rig.simulate import rig_fault

    r = sub.add_parser("rig", help="the exam room's rig: check its devices, or simulate all of them",
                       description="The rig file (docs/rig.md) says which driver each instrument uses, where it is "
                       "plugged and which serial it must report. `rig check` opens every device; `rig simulate` "
                       "runs every simulator and writes the rig file that points at them.")
    rs = r.add_subparsers(dest="rig_cmd", required=True, metavar="COMMAND")
    c = rs.add_parser("check", help="open every device of the rig, say what answered and a second of its signal",
                      description="Open every device of the rig file; print its model, serial, firmware and link, "
                      "and per stream the samples, rate, min..max per channel and flags (flat, saturated, no value) "
                      "over --seconds. Exit 1 naming each device that is missing, not the expected one or silent. "
                      "Not during a visit: it opens the same ports.")
    c.add_argument("--rig", type=Path, default=DEFAULT_RIG_FILE, metavar="FILE",
                   help=f"the rig file (default ./{DEFAULT_RIG_FILE})")
    c.add_argument("--seconds", type=seconds_gt0, default=1.0, metavar="SECONDS",
                   help="how long to read every stream (default 1)")
    s = rs.add_parser("simulate", help="run every device simulator and write their rig file; its path first",
                      description="Start every wire-level simulator (2 BITalino boards, the NDI Aurora, the cell "
                      "board, the scanner and its USB identity), write the rig file that points at them to --out, "
                      "print its path as the first line and run until SIGINT/SIGTERM, then stop the simulators and "
                      "remove their folder. A file at --out that is not a simulated rig's is never overwritten.")
    s.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the rig file")
    s.add_argument("--fault", action="append", type=rig_fault, default=[], metavar="DEVICE:NAME[=COUNT]",
                   help="arm a fault of one simulated device (emg_a, emg_b, jaw, plate, scanner), the names of "
                        "`amuse-acq simulate DEVICE --fault` (repeatable; COUNT times, default 1)")
    s.add_argument("--fault-every", type=seconds_ge0, default=0.0, metavar="SECONDS",
                   help="arm the listed faults again every SECONDS (default 0: once, at start)")
    s.add_argument("--seed", type=int, default=0, help="seed of the simulated signals (default 0)")


def cmd_rig(args: argparse.Namespace) -> int:
    from sessions.cli import CliError

    if args.rig_cmd == "check":
        from sessions.rig.check import check_rig
        from sessions.rig.config import RigConfigError, load_rig

        try:
            cfg = load_rig(args.rig)
        except RigConfigError as exc:
            raise CliError(str(exc)) from None
        result = check_rig(cfg, window_s=args.seconds)
        for line in result.lines()[:-1]:
            print(line, flush=True)
        if not result.ok:
            raise CliError(result.lines()[-1], code=1)
        print(result.lines()[-1])
        return 0
    from drivers.common.sim_cli import signal_stop
    from sessions.rig.simulate import RigFileRefused, check_out, serve_simulated_rig

    try:
        check_out(args.out)
    except RigFileRefused as exc:
        raise CliError(f"rig simulate: {exc}") from None
    with signal_stop() as stop:
        try:
            serve_simulated_rig(args.out, stop=stop, faults=args.fault, fault_every_s=args.fault_every,
                                seed=args.seed)
        except RuntimeError as exc:  # a simulator that did not start, or stopped answering
            raise CliError(f"rig simulate: {exc}", code=1) from None
    return 0
