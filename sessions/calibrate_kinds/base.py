"""What one `amuse-acq calibrate KIND` is: its options, and how it runs against the device or its simulator.

One module per kind in this package (`plate_tare.py`, `plate_mass.py`, `emg_noise.py`, `jaw_reference.py`,
`scanner_scale.py`), each exposing `COMMAND: CalibrateCommand`; `sessions.calibrate_cli` registers them all. The
computation itself lives in `calibration/` (pure, device-agnostic: it takes samples or captures); a kind's module
here only opens the device (or starts its wire-level simulator with known true values), captures what the
procedure needs, and hands it over.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acquisition.config import AcqSettings
from calibration.records import CalibrationKind, CalibrationRecord


@dataclass(frozen=True)
class CalibrationContext:
    """What every procedure run gets from the CLI: settings, who runs it, whether on a simulator, and the clock."""

    settings: AcqSettings
    operator: str
    simulate: bool
    say: Callable[[str], None] = print
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrateCommand:
    kind: CalibrationKind
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, CalibrationContext], CalibrationRecord]
