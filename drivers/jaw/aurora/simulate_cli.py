"""`amuse-acq simulate aurora`: one NDI Aurora simulator alone on a pty; prints the served path first.

    main_simulate(["--link", "/tmp/aurora", "--fault", "bad_crc=3", "--drift-ppm", "100"])
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from drivers.common.faults import FaultSettings, FaultSwitchboard
from drivers.common.sim_cli import add_fault_option, arm_all, stop_on_signals
from drivers.jaw.aurora.simulator import AuroraSimulator

FAULTS = ("bad_crc", "truncated", "garbage", "seq_jump", "stall", "unplug")




def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amuse-acq simulate aurora", description=__doc__)
    p.add_argument("--link", help="stable symlink to serve (like a udev /dev/serial/by-id path)")
    add_fault_option(p, FAULTS)
    p.add_argument("--fault-interval", type=float, default=3.0, help="seconds between two armed faults firing")
    p.add_argument("--drift-ppm", type=float, default=0.0, help="device clock rate error vs the host, ppm")
    p.add_argument("--rate", type=float, default=40.0, help="device frame rate, Hz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", default="idle", help="protocol step the simulated patient performs")
    p.add_argument("--model", default="Aurora", choices=("Aurora", "Polaris"))
    p.add_argument("--serial", default="P6-00417")
    return p


def main_simulate(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    board = FaultSwitchboard(FaultSettings(drift_ppm=args.drift_ppm))
    arm_all(board, args.fault)
    sim = AuroraSimulator(link=args.link, rate=args.rate, seed=args.seed, faults=board, model=args.model,
                          serial=args.serial, fault_interval_s=args.fault_interval)
    sim.set_step(args.step, 3600.0)
    print(sim.path, flush=True)
    done = stop_on_signals()
    sim.start()
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.close()
        print(f"aurora simulator stopped: {sim.counters}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main_simulate())
