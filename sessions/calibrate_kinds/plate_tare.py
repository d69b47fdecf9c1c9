"""`amuse-acq calibrate plate-tare`: the empty platform's offset per cell (calibration.plate_tare says what is
refused and what fails)."""

from __future__ import annotations

import argparse

from calibration.plate_procedure import perform_tare
from calibration.records import CalibrationRecord
from sessions.calibrate_kinds.base import CalibrateCommand, CalibrationContext
from sessions.calibrate_kinds.plate_common import add_plate_arguments, open_plate


def run(args: argparse.Namespace, ctx: CalibrationContext) -> CalibrationRecord:
    with open_plate(args, ctx) as plate:
        return perform_tare(plate.source, plate.place, ctx.settings.calibration.plate_tare, operator=ctx.operator,
                            simulated=plate.simulated, say=ctx.say)


COMMAND = CalibrateCommand(kind="plate-tare", help="empty-platform offsets per load cell",
                           add_arguments=add_plate_arguments, run=run)
