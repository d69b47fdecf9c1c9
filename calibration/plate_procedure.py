"""The plate procedures, step by step, against any opened plate `Source` (cell board, balance board, a test's fake).

Each step is asked of `place(instruction, mass_kg, x_mm, y_mm)`, which returns once it is done: the CLI prompts
the technician with the instruction and waits for Enter; on a simulator it puts that load on the simulated plate
(`drivers.signals.plate_load.PlateLoad`); a test does what it wants (forget the mass, leave a bag on the plate).
Then `settle_s` of samples are dropped (a hand still on the mass) and `capture_s` are averaged.

The plate stream is the source's regular `plate` stream in kg with cells TR BR TL BL: `plate_raw` of the cell
board (raw counts with their scale), the resampled `plate` of the balance board (its `plate_raw` is irregular).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from acquisition.calibration_config import PlateMassSettings, PlateTareSettings
from acquisition.clock import local_clock
from acquisition.source import Source, SourceError
from acquisition.stream import StreamSpec
from calibration import plate_mass, plate_tare
from calibration.capture import capture, channel_index, stream_spec
from calibration.plate_tare import CELLS, check_empty, check_finite, check_still
from calibration.records import CalibrationKind, CalibrationRecord
from calibration.result import ProcedureResult

#: place(instruction, mass_kg, x_mm, y_mm): the step is done when it returns (mass 0: nothing on the plate)
Place = Callable[[str, float, float, float], None]
CLEAR = "Clear the plate: nothing on it, nobody touching it"


def plate_stream(source: Source) -> StreamSpec:
    """The opened source's regular per-cell stream in kg (see the module docstring)."""
    spec = stream_spec(source, lambda s: s.kind == "plate" and s.nominal_rate > 0, "regular plate (kg per cell)")
    channel_index(spec, CELLS)
    if any(spec.units[spec.channels.index(c)] != "kg" for c in CELLS):
        raise SourceError(f"{source.name}: stream {spec.name!r} is in {spec.units}, a plate procedure needs kg")
    return spec


class _Plate:
    def __init__(self, source: Source, place: Place, say: Callable[[str], None], clock: Callable[[], float]) -> None:
        self.source, self.place, self.say, self.clock = source, place, say, clock
        self.spec = plate_stream(source)
        self.columns = channel_index(self.spec, CELLS)
        self.missing = 0

    def read(self, capture_s: float, settle_s: float) -> np.ndarray:
        """(n, 4) kg TR BR TL BL of `capture_s` seconds from `settle_s` after now."""
        cap = capture(self.source, self.spec.name, capture_s, start_after=self.clock() + settle_s, clock=self.clock)
        self.missing += cap.missing
        return cap.values[:, self.columns]

    def step(self, instruction: str, mass_kg: float, x_mm: float, y_mm: float, capture_s: float,
             settle_s: float) -> np.ndarray:
        self.place(instruction, mass_kg, x_mm, y_mm)
        return self.read(capture_s, settle_s)

    def record(self, kind: CalibrationKind, result: ProcedureResult, settings: PlateTareSettings | PlateMassSettings,
               operator: str, simulated: bool) -> CalibrationRecord:
        """The record of `result` on this plate, with the samples the device lost during the procedure."""
        dev = self.spec.device
        return result.to_record(kind=kind, device_serial=dev.serial, device_model=dev.model, performed_by=operator,
                                valid_for=settings.valid_for, simulated=simulated or dev.simulated,
                                residuals={"samples_missing": self.missing})


def perform_tare(source: Source, place: Place, settings: PlateTareSettings, *, operator: str,
                 simulated: bool = False, say: Callable[[str], None] = lambda _: None,
                 clock: Callable[[], float] = local_clock) -> CalibrationRecord:
    """`amuse-acq calibrate plate-tare` on an opened plate source."""
    plate = _Plate(source, place, say, clock)
    cells = plate.step(CLEAR, 0.0, 0.0, 0.0, settings.capture_s, settings.settle_s)
    say(f"plate-tare: {len(cells)} samples of {plate.spec.name} from {plate.spec.device.model} "
        f"s/n {plate.spec.device.serial}")
    res = plate_tare.compute_tare(cells, settings, stream=plate.spec.name)
    return plate.record("plate-tare", res, settings, operator, simulated)


def perform_mass_check(source: Source, place: Place, settings: PlateMassSettings, *, width_mm: float,
                       depth_mm: float, operator: str, simulated: bool = False,
                       say: Callable[[str], None] = lambda _: None,
                       clock: Callable[[], float] = local_clock) -> CalibrationRecord:
    """`amuse-acq calibrate plate-mass` on an opened plate source: empty baseline, then the mass at 5 positions."""
    plate = _Plate(source, place, say, clock)
    what = "plate-mass"
    empty = check_finite(plate.step(CLEAR, 0.0, 0.0, 0.0, settings.capture_s, settings.settle_s), what)
    baseline = empty.mean(axis=0)
    check_empty(baseline, settings.empty_max_kg, what)
    check_still(empty, settings.noise_max_kg, what)
    readings = []
    where = plate_mass.positions(width_mm, depth_mm, settings.corner_fraction)
    for pos in where:
        text = (f"Place the {settings.mass_kg:g} kg mass at the {pos.name} of the plate (x {pos.x_mm:+.0f} mm, "
                f"y {pos.y_mm:+.0f} mm from the centre), hands off")
        cells = check_finite(plate.step(text, settings.mass_kg, pos.x_mm, pos.y_mm, settings.capture_s,
                                        settings.settle_s), what)
        plate_mass.check_loaded(float(cells.mean(axis=0).sum() - baseline.sum()), settings.mass_kg,
                                settings.min_load_fraction, pos.name)
        check_still(cells, settings.noise_max_kg, f"{what} at the {pos.name}")
        readings.append(cells.mean(axis=0) - baseline)
        say(f"{what}: {pos.name}: {readings[-1].sum():.3f} kg")
    place("Remove the mass from the plate", 0.0, 0.0, 0.0)
    res = plate_mass.compute_mass(np.array(readings), where, settings, width_mm=width_mm, depth_mm=depth_mm,
                                  baseline_kg=baseline.tolist(), stream=plate.spec.name)
    return plate.record("plate-mass", res, settings, operator, simulated)
