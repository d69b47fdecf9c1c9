"""`amuse-acq calibrate plate-mass`: a known mass at the centre and four corners; gain error per cell, mass and
COP errors (calibration.plate_mass says how they are computed and judged)."""

from __future__ import annotations

import argparse

from acquisition.calibration_config import PlateMassSettings
from calibration.plate_procedure import perform_mass_check
from calibration.records import CalibrationRecord
from drivers.common.sim_cli import finite_number
from sessions.calibrate_kinds.base import CalibrateCommand, CalibrationContext
from sessions.calibrate_kinds.plate_common import add_plate_arguments, open_plate


def _mass(text: str) -> float:
    v = finite_number(text, "a mass in kg")
    if not 0 < v <= 200:
        raise argparse.ArgumentTypeError(f"expected a reference mass in (0, 200] kg, got {text!r}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mass-kg", type=_mass, default=None,
                   help="the reference mass as certified, kg (default: setting calibration.plate_mass.mass_kg, 20)")
    add_plate_arguments(p)


def run(args: argparse.Namespace, ctx: CalibrationContext) -> CalibrationRecord:
    settings = ctx.settings.calibration.plate_mass
    if args.mass_kg is not None:
        settings = PlateMassSettings.model_validate({**settings.model_dump(), "mass_kg": args.mass_kg})
    with open_plate(args, ctx) as plate:
        return perform_mass_check(plate.source, plate.place, settings, width_mm=plate.width_mm,
                                  depth_mm=plate.depth_mm, operator=ctx.operator, simulated=plate.simulated,
                                  say=ctx.say)


COMMAND = CalibrateCommand(kind="plate-mass", help="known mass at the centre and the four corners: gain per cell, "
                           "mass and COP errors", add_arguments=add_arguments, run=run)
