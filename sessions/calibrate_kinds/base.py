"""What one `amuse-acq calibrate KIND` is: its options, and how it runs against the device or its simulator.

One module per kind in this package (`plate_tare.py`, `plate_mass.py`, `emg_noise.py`, `jaw_reference.py`,
`scanner_scale.py`), each exposing `COMMAND: CalibrateCommand`; `sessions.calibrate_cli` registers them all. The
computation itself lives in `calibration/` (pure, device-agnostic: it takes samples or captures); a kind's module
here only opens the device (or starts its wire-level simulator with known true values), captures what the
procedure needs, and hands it over.

Contract of `run(args, ctx)`:
- it returns the record of what was measured, passed or failed (`ProcedureResult.to_record` builds one; the
  store then gives it its final `id` and `supersedes`, so whatever id the draft carries is replaced). A per-visit
  kind's record (`PER_VISIT_KINDS`) is only printed: the visit runner records it into the visit;
- it raises `CalibrationRefused` (one line) when the procedure could not be performed as asked: the plate is not
  empty, the signal is too noisy, nothing was placed... Nothing is stored and the CLI exits 2. A measurement that
  was made and is out of tolerance is not a refusal: it is a failed record (stored, exit 3);
- `acquisition.source.SourceError` (device missing or wrong) goes through as it is: exit 1, nothing stored.

A kind module is imported whenever `amuse-acq calibrate` builds its parser: it imports its drivers and simulators
inside `run`, not at module level (importing the simulators costs ~0.12 CPU-s, see `sessions.cli_parser`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acquisition.config import AcqSettings
from calibration.records import CalibrationKind, CalibrationRecord, CalibrationRefused

if TYPE_CHECKING:
    from sessions.simulated_rig import SimulatedRig

__all__ = ["CalibrateCommand", "CalibrationContext", "CalibrationRefused", "ask_technician"]


def ask_technician(message: str) -> None:
    """The technician's side of a step: the instruction on the terminal, then wait for Enter."""
    input(f"{message}, then press Enter ")


@dataclass(frozen=True)
class CalibrationContext:
    """What every procedure run gets from the CLI: settings, who runs it, whether on a simulator, how to talk.

    - `say`: one progress line for the technician;
    - `prompt`: show an instruction and wait until the technician has done it ("place 20 kg at the centre");
      with `simulate` a kind does the step on its simulator instead and never prompts; tests inject their own;
    - `rig`: set by the demo: run against this simulated rig's instruments (the devices of the visit) rather than
      starting simulators of your own. A kind that does not use it starts its own simulator, as with --simulate.
    """

    settings: AcqSettings
    operator: str
    simulate: bool
    say: Callable[[str], None] = print
    extra: dict[str, Any] = field(default_factory=dict)
    prompt: Callable[[str], None] = ask_technician
    rig: SimulatedRig | None = None


@dataclass(frozen=True)
class CalibrateCommand:
    kind: CalibrationKind
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, CalibrationContext], CalibrationRecord]
