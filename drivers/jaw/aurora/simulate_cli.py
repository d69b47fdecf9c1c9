"""`amuse-acq simulate aurora`: one NDI Aurora simulator alone on a pty; prints the served path first.

    python -m drivers.jaw.aurora.simulate_cli --link /tmp/aurora --fault bad_crc=3 --fault-every 3 --drift-ppm 100

Faults fire at the next replies once armed; `--fault-every SECONDS` arms them again every SECONDS (the same
option as every other simulator; it replaces the Aurora's own `--fault-interval`). Runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from drivers.common import sim_cli
from drivers.common.sim_cli import SimCommand
from drivers.jaw.aurora.simulator import AuroraSimulator

#: the faults the Aurora simulator fires (see simulator.py)
FAULTS = AuroraSimulator.FAULTS  # exactly what the simulator implements (it refuses anything else)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sim_cli.add_fault_options(p, FAULTS)
    sim_cli.add_link(p)
    sim_cli.add_seed(p)
    sim_cli.add_step(p, "idle")
    p.add_argument("--rate", type=sim_cli.positive, default=40.0, help="device frame rate, Hz (default 40)")
    p.add_argument("--model", default="Aurora", choices=("Aurora", "Polaris"))
    p.add_argument("--serial", default="P6-00417", help="system serial number it reports (default P6-00417)")


def run(args: argparse.Namespace) -> int:
    from drivers.jaw.aurora.simulator import AuroraSimulator

    faults = sim_cli.switchboard(args)
    with sim_cli.building("aurora"):
        sim = AuroraSimulator(link=args.link, rate=args.rate, seed=args.seed, faults=faults, model=args.model,
                              serial=args.serial)
        sim.set_step(args.step, 3600.0)
    with sim_cli.signal_stop() as stop:
        sim_cli.announce(sim.path)
        sim.start()
        try:
            sim_cli.serve_until_stopped(stop, faults, args)
        finally:
            sim.close()
            print(f"aurora simulator stopped: {sim.counters}", file=sys.stderr, flush=True)
    return 0


COMMAND = SimCommand(name="aurora", help="an NDI Aurora (Combined API) on a pty",
                     description=__doc__.splitlines()[0], add_arguments=add_arguments, run=run)
COMMANDS = (COMMAND,)


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser (tests); `amuse-acq simulate aurora` registers the same `add_arguments`."""
    p = argparse.ArgumentParser(prog="amuse-acq simulate aurora", description=COMMAND.description)
    add_arguments(p)
    return p


def main_simulate(argv: Sequence[str] | None = None) -> int:
    return sim_cli.standalone(COMMANDS, argv)


if __name__ == "__main__":
    raise SystemExit(main_simulate())
