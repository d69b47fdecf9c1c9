"""`amuse-acq simulate balance-board|cell-board [--fault ...]`: one simulator alone, until SIGINT/SIGTERM.

The first line printed (flushed) is the path the simulator serves: the cell board's serial symlink, or the
balance board's event device (uinput) / FIFO of event records (fallback). A driver is then pointed at it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from drivers.common.faults import FaultSettings, FaultSwitchboard
from drivers.common.sim_cli import add_fault_option, arm_all, stop_on_signals

FAULTS = ("bad_crc", "truncated", "garbage", "seq_jump", "stall", "unplug")
BB_FAULTS = ("truncated", "garbage", "seq_jump", "stall", "unplug")


def _parser(kind: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"amuse-acq simulate {kind}", description=__doc__)
    add_fault_option(p, FAULTS if kind == "cell-board" else BB_FAULTS)
    p.add_argument("--fault-every", type=float, default=0.0, metavar="S",
                   help="re-arm the listed faults every S seconds (0: once, at start)")
    p.add_argument("--drift-ppm", type=float, default=0.0, help="device clock error, ppm (100 = 100 ppm fast)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mass-kg", type=float, default=70.0)
    p.add_argument("--step", default="stab_eyes_open", help="protocol step the simulated subject follows")
    if kind == "cell-board":
        p.add_argument("--link", default=None, help="symlink to serve the pty behind (default: a temp path)")
    else:
        p.add_argument("--transport", choices=("auto", "uinput", "fifo"), default="auto")
        p.add_argument("--fifo", default=None, help="FIFO path for the record-stream fallback (default: temp)")
    return p


def main_simulate(kind: str, argv: Sequence[str] | None = None) -> int:
    if kind not in ("balance-board", "cell-board"):
        print(f"unknown simulator {kind!r}: choose balance-board or cell-board", file=sys.stderr)
        return 2
    args = _parser(kind).parse_args(list(argv) if argv is not None else None)
    board = FaultSwitchboard(FaultSettings(drift_ppm=args.drift_ppm))
    arm_all(board, args.fault)
    stop = stop_on_signals()
    tmp = tempfile.TemporaryDirectory(prefix="amuse-sim-")
    try:
        if kind == "cell-board":
            from drivers.stabilometry.cell_board.simulator import CellBoardSimulator

            link = args.link or str(Path(tmp.name) / "cell-board")
            sim = CellBoardSimulator(link=link, seed=args.seed, mass_kg=args.mass_kg, faults=board)
        else:
            from drivers.stabilometry.balance_board_sim import BalanceBoardSimulator

            fifo = args.fifo or str(Path(tmp.name) / "balance-board.events")
            sim = BalanceBoardSimulator(transport=args.transport, fifo_path=fifo, seed=args.seed,
                                        mass_kg=args.mass_kg, faults=board)
        sim.set_step(args.step)
        sim.start()
        print(sim.path, flush=True)
        while not stop.wait(args.fault_every if args.fault_every > 0 else 0.5):
            if args.fault_every > 0:
                arm_all(board, args.fault)
        sim.stop()
    finally:
        tmp.cleanup()
    return 0


if __name__ == "__main__":  # python -m drivers.stabilometry.simulate_cli cell-board --fault bad_crc
    raise SystemExit(main_simulate(sys.argv[1] if len(sys.argv) > 1 else "", sys.argv[2:]))
