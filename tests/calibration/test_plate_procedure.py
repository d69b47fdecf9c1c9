"""The plate procedures step by step on the cell board's wire-level simulator with known true errors, through its
real driver; the steps done by an injected `place` (the technician's hands)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from acquisition.calibration_config import PlateMassSettings, PlateTareSettings
from calibration.plate_procedure import perform_mass_check, perform_tare
from calibration.records import CalibrationRefused
from drivers.signals.plate_load import CellErrors, PlateLoad
from drivers.stabilometry.cell_board.driver import CellBoardSource
from drivers.stabilometry.cell_board.simulator import CellBoardSimulator
from drivers.stabilometry.config import CellBoardConfig

QUICK = {"capture_s": 0.4, "settle_s": 0.25}
TARE = PlateTareSettings(**QUICK)
MASS = PlateMassSettings(**QUICK)


@pytest.fixture
def board(tmp_path, request) -> Iterator[tuple[CellBoardSimulator, CellBoardSource]]:  # noqa: ANN001
    errors = getattr(request, "param", CellErrors())
    sim = CellBoardSimulator(link=str(tmp_path / "cb"), errors=errors).start()
    src = CellBoardSource(CellBoardConfig(port=sim.path, simulated=True))
    src.open()
    try:
        yield sim, src
    finally:
        src.close()
        sim.stop()


class Hands:
    """Does each step on the simulator; `forget` a step's index to leave the plate as it is, `leave_kg` on it."""

    def __init__(self, sim: CellBoardSimulator, *, forget: int | None = None, leave_kg: float = 0.0) -> None:
        self.sim, self.forget, self.leave = sim, forget, leave_kg
        self.steps: list[str] = []

    def __call__(self, instruction: str, mass_kg: float, x_mm: float, y_mm: float) -> None:
        self.steps.append(instruction)
        if len(self.steps) - 1 == self.forget:
            return
        load = PlateLoad(mass_kg=mass_kg or self.leave, x_mm=x_mm if mass_kg else 0.0, y_mm=y_mm if mass_kg else 0.0)
        self.sim.place_load(load)


@pytest.mark.parametrize("board", [CellErrors(zero_kg=(0.3, -0.2, 0.1, 0.0))], indirect=True)
def test_tare_finds_the_true_offsets(board) -> None:  # noqa: ANN001
    sim, src = board
    hands = Hands(sim)
    rec = perform_tare(src, hands, TARE, operator="tech1")
    assert hands.steps == ["Clear the plate: nothing on it, nobody touching it"]
    assert rec.passed and rec.kind == "plate-tare" and rec.simulated
    assert (rec.device_serial, rec.device_model) == ("SIM-CB4-000123", "AMUSE-CB4")
    got = [rec.values["offset_kg"][c] for c in ("TR", "BR", "TL", "BL")]
    assert np.allclose(got, [0.3, -0.2, 0.1, 0.0], atol=2e-4)
    assert rec.expires - rec.performed == TARE.valid_for


def test_tare_refuses_a_plate_left_loaded(board) -> None:  # noqa: ANN001
    sim, src = board
    with pytest.raises(CalibrationRefused, match=r"not empty: it reads \+5.00 kg"):
        perform_tare(src, Hands(sim, leave_kg=5.0), TARE, operator="tech1")


@pytest.mark.parametrize("board", [CellErrors(gain_error=(0.03, 0.0, -0.005, 0.0), zero_kg=(0.5, 0, 0, 0))],
                         indirect=True)
def test_mass_check_finds_the_true_gains_and_rejects_the_plate(board) -> None:  # noqa: ANN001
    sim, src = board
    hands = Hands(sim)
    rec = perform_mass_check(src, hands, MASS, width_mm=433.0, depth_mm=238.0, operator="tech1")
    assert len(hands.steps) == 7 and hands.steps[-1] == "Remove the mass from the plate"
    assert "20 kg mass at the front-right of the plate (x +108 mm, y +60 mm" in hands.steps[2]
    gains = [rec.values["gain"][c] for c in ("TR", "BR", "TL", "BL")]
    assert np.allclose(gains, [1.03, 1.0, 0.995, 1.0], atol=1e-4)
    assert abs(rec.values["baseline_kg"]["TR"] - 0.5) < 1e-3  # the zero offset is the baseline, not a gain
    assert not rec.passed
    assert "cell TR gain error +3.00 % (tolerance +-2 %)" in rec.reasons
    assert rec.residuals["after_gains"]["max_cop_error_mm"] < 0.05


def test_mass_check_refuses_a_mass_never_placed(board) -> None:  # noqa: ANN001
    sim, src = board
    hands = Hands(sim, forget=1)  # step 1: the mass at the centre; the plate stays empty
    with pytest.raises(CalibrationRefused, match="with the 20 kg mass at the centre the plate reads 0.00 kg"):
        perform_mass_check(src, hands, MASS, width_mm=433.0, depth_mm=238.0, operator="tech1")
