"""`amuse-acq simulate bitalino`: one BITalino simulator alone; prints the served path as its first line.

    main_simulate(["--fault", "bad_crc=3", "--fault", "unplug", "--drift-ppm", "100", "--link", "/tmp/bitalino_a"])

Faults are armed at start and fire at the next frames once a client starts live mode; `--fault-every S` re-arms
the listed faults every S seconds (soak runs). Runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import get_args

from drivers.common.faults import FaultName, FaultSettings, FaultSwitchboard
from drivers.common.sim_cli import add_fault_option, arm_all, stop_on_signals
from drivers.emg.bitalino.simulator import DEFAULT_VERSION, BitalinoSimulator

FAULTS = get_args(FaultName)




def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amuse-acq simulate bitalino", description=__doc__.splitlines()[0])
    add_fault_option(p, FAULTS)
    p.add_argument("--fault-every", type=float, default=0.0, metavar="S", help="re-arm the faults every S seconds")
    p.add_argument("--drift-ppm", type=float, default=0.0, help="device clock error, ppm (100 = 100 ppm fast)")
    p.add_argument("--link", default=None, help="symlink to serve the pty behind (default: print the /dev/pts path)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inputs", default="TA_R,TA_L,MM_R,MM_L", help="generator channels on A1..A6, comma separated")
    p.add_argument("--version-string", default=DEFAULT_VERSION)
    p.add_argument("--stall-s", type=float, default=0.5)
    p.add_argument("--unplug-s", type=float, default=0.5)
    p.add_argument("--emissions-out", default=None, metavar="NPZ",
                   help="at exit, save frame index, write time and device-clock time of every frame (benches)")
    return p


def main_simulate(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    settings = FaultSettings(drift_ppm=args.drift_ppm, stall_s=args.stall_s, unplug_s=args.unplug_s)
    board = FaultSwitchboard(settings)

    def arm() -> None:
        arm_all(board, args.fault)

    arm()
    inputs = [s.strip() or None for s in args.inputs.split(",")]
    sim = BitalinoSimulator(link=args.link, inputs=inputs, seed=args.seed, version=args.version_string, faults=board,
                            record=bool(args.emissions_out))
    stop = stop_on_signals()
    sim.start()
    print(sim.path, flush=True)
    try:
        while not stop.wait(args.fault_every if args.fault_every > 0 else 0.5):
            if args.fault_every > 0:
                arm()
    finally:
        sim.close()
        if args.emissions_out:
            import numpy as np

            k, t = sim.emissions()
            ideal = sim.ideal_time(k) if len(k) else np.empty(0)
            np.savez(args.emissions_out, k=k, t_write=t, t_ideal=ideal)
        fired = {f: board.fired(f) for f in FAULTS if board.fired(f)}
        print(f"frames_sent={sim.frames_sent} faults_fired={fired}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main_simulate())
