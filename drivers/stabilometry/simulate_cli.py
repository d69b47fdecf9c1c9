"""`amuse-acq simulate balance-board|cell-board`: one plate simulator alone, until SIGINT/SIGTERM.

The first line printed (flushed) is the path the simulator serves: the cell board's serial symlink, or the
balance board's event device (uinput) / FIFO of event records (fallback). A driver is then pointed at it.

    python -m drivers.stabilometry.simulate_cli cell-board --fault bad_crc --fault-every 2 --drift-ppm 100
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from drivers.common import sim_cli
from drivers.common.faults import FaultSwitchboard
from drivers.common.sim_cli import SimCommand
from drivers.stabilometry.balance_board_sim import BalanceBoardSimulator
from drivers.stabilometry.cell_board.simulator import CellBoardSimulator

#: the faults each simulator fires (see cell_board/simulator.py and balance_board_sim.py)
CELL_BOARD_FAULTS = CellBoardSimulator.FAULTS
BALANCE_BOARD_FAULTS = BalanceBoardSimulator.FAULTS


def _common(p: argparse.ArgumentParser, faults: Sequence[str], *, drift: bool) -> None:
    sim_cli.add_fault_options(p, faults, drift=drift)
    sim_cli.add_seed(p)
    sim_cli.add_step(p, "stab_eyes_open")
    p.add_argument("--mass-kg", type=sim_cli.positive, default=70.0, help="the simulated subject's mass (default 70)")


def add_cell_board_arguments(p: argparse.ArgumentParser) -> None:
    _common(p, CELL_BOARD_FAULTS, drift=True)
    sim_cli.add_link(p, "a symlink in a temporary folder")


def add_balance_board_arguments(p: argparse.ArgumentParser) -> None:
    # no --drift-ppm: the board's reports are stamped by the host kernel (balance_board_sim.py says why)
    _common(p, BALANCE_BOARD_FAULTS, drift=False)
    p.add_argument("--transport", choices=("auto", "uinput", "fifo"), default="auto",
                   help="uinput event device, or a FIFO of event records (auto: uinput when usable)")
    p.add_argument("--fifo", default=None, metavar="PATH",
                   help="FIFO path for the record-stream fallback (default: a temporary path)")


class _Plate(Protocol):
    @property
    def path(self) -> str: ...
    def set_step(self, step: str, duration_s: float = 3600.0) -> None: ...
    def start(self) -> object: ...
    def stop(self) -> None: ...


def _serve(sim: _Plate, faults: FaultSwitchboard, args: argparse.Namespace) -> int:
    sim.set_step(args.step)
    with sim_cli.signal_stop() as stop:
        sim.start()
        try:
            sim_cli.announce(sim.path)
            sim_cli.serve_until_stopped(stop, faults, args)
        finally:
            sim.stop()
    return 0


def run_cell_board(args: argparse.Namespace) -> int:
    faults = sim_cli.switchboard(args)
    with tempfile.TemporaryDirectory(prefix="amuse-sim-") as tmp:
        with sim_cli.building("cell-board"):
            sim = CellBoardSimulator(link=args.link or str(Path(tmp) / "cell-board"), seed=args.seed,
                                     mass_kg=args.mass_kg, faults=faults)
        return _serve(sim, faults, args)


def run_balance_board(args: argparse.Namespace) -> int:
    faults = sim_cli.switchboard(args)
    with tempfile.TemporaryDirectory(prefix="amuse-sim-") as tmp:
        with sim_cli.building("balance-board"):
            fifo = args.fifo or str(Path(tmp) / "balance-board.events")
            sim = BalanceBoardSimulator(transport=args.transport, fifo_path=fifo, seed=args.seed,
                                        mass_kg=args.mass_kg, faults=faults)
        return _serve(sim, faults, args)


CELL_BOARD = SimCommand(name="cell-board", help="the 4-cell force plate board on a pty",
                        description="The 4-cell force plate board alone, on a pty, until SIGINT/SIGTERM; prints "
                        "the symlink it serves first.", add_arguments=add_cell_board_arguments,
                        run=run_cell_board)
BALANCE_BOARD = SimCommand(name="balance-board", help="a Wii Balance Board (uinput event device or FIFO)",
                           description="A Wii Balance Board alone, until SIGINT/SIGTERM; prints the event device "
                           "(uinput) or the FIFO of event records it serves first.", add_arguments=add_balance_board_arguments,
                           run=run_balance_board)
COMMANDS = (BALANCE_BOARD, CELL_BOARD)


def main_simulate(kind: str, argv: Sequence[str] | None = None) -> int:
    """`main_simulate("cell-board", [...])`, as `python -m drivers.stabilometry.simulate_cli cell-board ...`."""
    return sim_cli.standalone(COMMANDS, [kind, *(argv or [])])


if __name__ == "__main__":
    raise SystemExit(sim_cli.standalone(COMMANDS))
