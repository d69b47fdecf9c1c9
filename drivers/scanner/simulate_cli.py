"""`amuse-acq simulate scanner`: run the simulated scanner alone.

Prints the export folder it writes into as its FIRST line (flushed), then writes the protocol's 3 conditions
x 3 captures every `--interval` seconds (formats cycling OBJ+MTL+PNG, PLY, STL) and a photo set, then idles
until SIGINT/SIGTERM. `--fault NAME[=COUNT]` (repeatable) arms broken captures: truncated, wrong_units,
empty, garbage, nan, missing_texture. The ground truth of each capture goes to `<folder>/.sim_truth.jsonl`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from drivers.common import sim_cli
from drivers.common.sim_cli import SimCommand
from drivers.scanner.simulator import SCANNER_FAULTS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folder", type=Path, default=None, help="export folder (default: a new temporary folder)")
    p.add_argument("--interval", type=sim_cli.seconds_gt0, default=3.0, metavar="SECONDS",
                   help="seconds between captures (default 3)")
    sim_cli.add_seed(p)
    p.add_argument("--subject", default="SIM01", help="pseudonym used in the file names (default SIM01)")
    p.add_argument("--write-mode", choices=("slow", "part", "direct"), default="slow",
                   help="slow: in pieces under the final name; part: in pieces as .part, then renamed; direct")
    # captures are counted, not paced: a scanner fault fires on the next capture, so there is no --fault-every
    sim_cli.add_fault_options(p, SCANNER_FAULTS, timed=False)
    p.add_argument("--no-photos", action="store_true", help="do not write the photo set after the captures")
    p.add_argument("--scale-error", type=lambda t: sim_cli.finite_number(t, "a scale error in %"), default=0.0,
                   metavar="PCT",
                   help="a scanner out of calibration: every capture PCT %% too large (default 0)")


def run(args: argparse.Namespace) -> int:
    from drivers.scanner.simulator import ScannerSimulator

    folder = args.folder or Path(tempfile.mkdtemp(prefix="amuse-scanner-"))
    folder.mkdir(parents=True, exist_ok=True)
    faults = sim_cli.switchboard(args)
    with sim_cli.building("scanner"):
        sim = ScannerSimulator(folder, seed=args.seed, subject=args.subject, write_mode=args.write_mode,
                               faults=faults, scale_error_pct=args.scale_error)
    with sim_cli.signal_stop() as stop:
        sim_cli.announce(str(folder.resolve()))
        sim.run_protocol(
            stop, interval_s=args.interval, photos=not args.no_photos,
            on_capture=lambda r: print(f"wrote {r.stem} ({r.fmt}{', fault ' + r.fault if r.fault else ''})",
                                       file=sys.stderr, flush=True),
        )
        sim_cli.serve_until_stopped(stop, faults, args)
    return 0


COMMAND = SimCommand(name="scanner", help="a 3D face scanner writing captures into an export folder",
                     description=__doc__.splitlines()[0], add_arguments=add_arguments, run=run)
COMMANDS = (COMMAND,)


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser (tests); `amuse-acq simulate scanner` registers the same `add_arguments`."""
    p = argparse.ArgumentParser(prog="amuse-acq simulate scanner", description=COMMAND.description)
    add_arguments(p)
    return p


def main_simulate(argv: Sequence[str] | None = None) -> int:
    return sim_cli.standalone(COMMANDS, argv)


if __name__ == "__main__":
    raise SystemExit(main_simulate())
