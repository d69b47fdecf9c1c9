"""`amuse-acq simulate bitalino`: one BITalino simulator alone; prints the served path as its first line.

    python -m drivers.emg.bitalino.simulate_cli --fault bad_crc=3 --fault unplug --drift-ppm 100 --link /tmp/bit_a

Faults are armed at start and fire at the next frames once a client starts live mode; `--fault-every SECONDS`
arms them again every SECONDS (soak runs). Runs until SIGINT/SIGTERM, then prints what it sent on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from drivers.common import sim_cli
from drivers.common.sim_cli import SimCommand
from drivers.emg.bitalino.simulator import BitalinoSimulator

#: the faults the BITalino simulator fires (see simulator.py); the file faults of the scanner are not among them
FAULTS = BitalinoSimulator.FAULTS  # exactly what the simulator implements (it refuses anything else)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sim_cli.add_fault_options(p, FAULTS)
    sim_cli.add_link(p)
    sim_cli.add_seed(p)
    sim_cli.add_step(p, None)
    p.add_argument("--inputs", default="TA_R,TA_L,MM_R,MM_L",
                   help="generator channels wired to A1..A6, comma separated (empty = floating)")
    p.add_argument("--bad-electrode", default=None, metavar="LABEL",
                   help="a loose electrode on this channel (e.g. TA_L): its rest noise is 25 uV RMS")
    p.add_argument("--version-string", default=None, help="what the board answers to 'version' "
                   "(default: the simulator's firmware string)")
    p.add_argument("--emissions-out", default=None, metavar="NPZ",
                   help="at exit, save frame index, write time and device-clock time of every frame (benches)")


def run(args: argparse.Namespace) -> int:
    from drivers.emg.bitalino.simulator import DEFAULT_VERSION, BitalinoSimulator

    inputs = [s.strip() or None for s in args.inputs.split(",")]
    faults = sim_cli.switchboard(args)
    with sim_cli.building("bitalino"):
        params = None
        if args.bad_electrode:
            from drivers.signals.emg import EmgParams

            params = EmgParams().with_bad_electrode(args.bad_electrode)
        sim = BitalinoSimulator(link=args.link, inputs=inputs, seed=args.seed,
                                version=args.version_string or DEFAULT_VERSION, faults=faults,
                                record=bool(args.emissions_out), emg_params=params)
        if args.step is not None:
            sim.set_step(args.step, 3600.0)
    with sim_cli.signal_stop() as stop:
        sim.start()
        try:
            sim_cli.announce(sim.path)
            sim_cli.serve_until_stopped(stop, faults, args)
        finally:
            sim.close()
            if args.emissions_out:
                import numpy as np

                k, t = sim.emissions()
                ideal = sim.ideal_time(k) if len(k) else np.empty(0)
                np.savez(args.emissions_out, k=k, t_write=t, t_ideal=ideal)
            fired = {f: faults.fired(f) for f in FAULTS if faults.fired(f)}  # type: ignore[arg-type]
            print(f"frames_sent={sim.frames_sent} faults_fired={fired}", file=sys.stderr, flush=True)
    return 0


COMMAND = SimCommand(name="bitalino", help="a BITalino (r)evolution board on a pty",
                     description=__doc__.splitlines()[0], add_arguments=add_arguments, run=run)
COMMANDS = (COMMAND,)


def main_simulate(argv: Sequence[str] | None = None) -> int:
    return sim_cli.standalone(COMMANDS, argv)


if __name__ == "__main__":
    raise SystemExit(main_simulate())
