"""The plate under calibration, for `plate-tare` and `plate-mass`: the real device, its simulator, or the demo's.

- real device: `--plate cell-board --port /dev/ttyUSB0` or `--plate balance-board [--device /dev/input/eventN]`
  (as the drivers take them; issue 10 brings the rig file); every step is prompted to the technician;
- `--simulate`: the plate's wire-level simulator (cell board on a pty, balance board on a FIFO of event records)
  with known true errors (`--sim-gain-error-pct`, `--sim-zero-kg`, `--sim-noise-kg`, `--sim-leftover-kg`); each
  step is done on the simulator (`PlateLoad`), never prompted;
- the demo's rig (`CalibrationContext.rig`): the rig's own cell board, steps done on it, the subject given back
  after.
Drivers and simulators are imported when a plate is opened, not with this module (it is imported by every
`amuse-acq calibrate` parser).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acquisition.source import Source, SourceError, opened
from calibration.plate_procedure import Place
from calibration.records import CalibrationRefused
from drivers.common.sim_cli import finite_number
from sessions.calibrate_kinds.base import CalibrationContext

PLATES = ("cell-board", "balance-board")
_SIM_OPTIONS = ("sim_gain_error_pct", "sim_zero_kg", "sim_noise_kg", "sim_leftover_kg")


def _four(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 comma-separated numbers (TR,BR,TL,BL), got {text!r}")
    a, b, c, d = (finite_number(p.strip(), "a number") for p in parts)
    return a, b, c, d


def _kg(text: str) -> float:
    v = finite_number(text, "a mass in kg")
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a mass >= 0 kg, got {text!r}")
    return v


def add_plate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plate", choices=PLATES, default="cell-board", help="which plate (default cell-board)")
    p.add_argument("--port", default=None, help="the cell board's serial port (needed for a real cell board)")
    p.add_argument("--device", default="auto",
                   help="the balance board's event device or FIFO (default auto: found by name and VID:PID)")
    g = p.add_argument_group("simulated plate (with --simulate): its true errors, which the procedure must find")
    g.add_argument("--sim-gain-error-pct", type=_four, default=None, metavar="TR,BR,TL,BL",
                   help="per-cell gain errors, %% (e.g. 3,0,0,0: cell TR reads 3 %% high)")
    g.add_argument("--sim-zero-kg", type=_four, default=None, metavar="TR,BR,TL,BL",
                   help="per-cell zero offsets, kg (what a tare must find)")
    g.add_argument("--sim-noise-kg", type=_kg, default=None, help="white noise on every cell, kg standard deviation")
    g.add_argument("--sim-leftover-kg", type=_kg, default=None,
                   help="a load the simulated technician leaves at the centre when the plate should be empty")


@dataclass(frozen=True)
class OpenPlate:
    """An opened plate source, how its steps are done, its cell spans (mm) and whether it is simulated."""

    source: Source
    place: Place
    width_mm: float
    depth_mm: float
    simulated: bool


def _check_options(args: argparse.Namespace, ctx: CalibrationContext) -> None:
    given = [o for o in _SIM_OPTIONS if getattr(args, o, None) is not None]
    if given and not ctx.simulate:
        raise CalibrationRefused(f"--{given[0].replace('_', '-')} describes a simulated plate: it needs --simulate")
    if ctx.rig is None and not ctx.simulate and args.plate == "cell-board" and not args.port:
        raise CalibrationRefused("a real cell board needs --port (its serial port, e.g. /dev/ttyUSB0); "
                                 "or run with --simulate")


def _sim_place(sim: Any, leftover_kg: float, say: Any) -> Place:
    from drivers.signals.plate_load import PlateLoad

    def place(instruction: str, mass_kg: float, x_mm: float, y_mm: float) -> None:
        if mass_kg == 0 and leftover_kg:
            sim.place_load(PlateLoad(mass_kg=leftover_kg))
        else:
            sim.place_load(PlateLoad(mass_kg=mass_kg, x_mm=x_mm, y_mm=y_mm))
        say(f"  simulated: {instruction}")

    return place


def plate_geometry(source: Source) -> tuple[float, float]:
    """(width, depth) mm between the cells of `source`, from its own driver configuration (`config.geometry`):
    the spans its COP is computed with in a visit, so the mass positions and the COP check use the same ones."""
    geo = getattr(getattr(source, "config", None), "geometry", None)
    if geo is None:
        raise SourceError(f"{source.name}: no plate geometry in its configuration (config.geometry)")
    return float(geo.width_mm), float(geo.depth_mm)


@contextlib.contextmanager
def open_plate(args: argparse.Namespace, ctx: CalibrationContext) -> Iterator[OpenPlate]:
    """The plate the options name, opened; closed (and simulators stopped) on exit."""
    from drivers.stabilometry.config import BalanceBoardConfig, CellBoardConfig

    _check_options(args, ctx)
    if ctx.rig is not None:
        rig = ctx.rig
        source = rig.plate_source()
        try:
            with opened(source):
                yield OpenPlate(source, _sim_place(rig, 0.0, ctx.say), *plate_geometry(source), True)
        finally:
            rig.place_load(None)  # the simulated subject back on the plate for the visit
        return
    if not ctx.simulate:
        source = _real_source(args, CellBoardConfig, BalanceBoardConfig)
        with opened(source):
            yield OpenPlate(source, lambda text, *_: ctx.prompt(text), *plate_geometry(source), False)
        return
    with _simulated(args, ctx) as (source, place):
        with opened(source):
            yield OpenPlate(source, place, *plate_geometry(source), True)


def _real_source(args: argparse.Namespace, cell_cfg: Any, wbb_cfg: Any) -> Source:
    if args.plate == "cell-board":
        from drivers.stabilometry.cell_board.driver import CellBoardSource

        return CellBoardSource(cell_cfg(port=args.port))  # type: ignore[return-value]
    from drivers.stabilometry.balance_board import BalanceBoardSource

    return BalanceBoardSource(wbb_cfg(device=args.device))  # type: ignore[return-value]


@contextlib.contextmanager
def _simulated(args: argparse.Namespace, ctx: CalibrationContext) -> Iterator[tuple[Source, Place]]:
    from drivers.signals.plate_load import CellErrors

    gain = tuple(v / 100 for v in args.sim_gain_error_pct) if args.sim_gain_error_pct else (0.0,) * 4
    errors = CellErrors(gain_error=gain, zero_kg=args.sim_zero_kg or (0.0,) * 4,  # type: ignore[arg-type]
                        noise_kg=args.sim_noise_kg or 0.0)
    with tempfile.TemporaryDirectory(prefix="amuse-calibrate-") as tmp:
        sim: Any
        if args.plate == "cell-board":
            from drivers.stabilometry.cell_board.driver import CellBoardSource
            from drivers.stabilometry.cell_board.simulator import CellBoardSimulator
            from drivers.stabilometry.config import CellBoardConfig

            sim = CellBoardSimulator(link=str(Path(tmp) / "cell-board"), errors=errors)
            make = lambda: CellBoardSource(CellBoardConfig(port=sim.path, simulated=True))  # noqa: E731
        else:
            from drivers.stabilometry.balance_board import BalanceBoardSource
            from drivers.stabilometry.balance_board_sim import BalanceBoardSimulator
            from drivers.stabilometry.config import BalanceBoardConfig

            sim = BalanceBoardSimulator(transport="fifo", fifo_path=str(Path(tmp) / "balance-board.events"),
                                        errors=errors)
            make = lambda: BalanceBoardSource(BalanceBoardConfig(device=sim.path, simulated=True))  # noqa: E731
        sim.place_load(None)
        sim.start()
        try:
            ctx.say(f"simulated {args.plate}: gain errors {list(errors.gain_error)}, zero offsets "
                    f"{list(errors.zero_kg)} kg, noise {errors.noise_kg} kg")
            yield make(), _sim_place(sim, args.sim_leftover_kg or 0.0, ctx.say)
        finally:
            sim.stop()
