"""Plate simulators for calibration: a known mass at a known position, and true per-cell errors, seen through the
real drivers exactly as built (the procedures' ground truth)."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.signals.plate_load import CellErrors, PlateLoad
from drivers.stabilometry.balance_board import BalanceBoardSource
from drivers.stabilometry.balance_board_sim import BalanceBoardSimulator
from drivers.stabilometry.cell_board.driver import CellBoardSource
from drivers.stabilometry.cell_board.simulator import CellBoardSimulator
from drivers.stabilometry.config import BalanceBoardConfig, CellBoardConfig

from .conftest import cat, pump

ERRORS = CellErrors(gain_error=(0.03, 0.0, -0.01, 0.0), zero_kg=(0.4, 0.0, 0.0, 0.2))


def _cells_and_cop(out: dict, stream: str, spec) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    kg = spec.to_physical(cat(out[stream]))
    return kg[-50:].mean(axis=0), cat(out["cop"])[-50:].mean(axis=0)


def test_cell_board_places_a_known_mass_with_its_errors(tmp_link: str) -> None:
    sim = CellBoardSimulator(link=tmp_link, errors=ERRORS, keep_truth=True)
    sim.place_load(PlateLoad(mass_kg=20.0, x_mm=100.0, y_mm=-50.0))
    sim.start()
    src = CellBoardSource(CellBoardConfig(port=sim.path, simulated=True))
    try:
        src.open()
        out, _ = pump(src, 1.0)
        spec = next(s for s in src.streams if s.name == "plate_raw")
        cells, _ = _cells_and_cop(out, "plate_raw", spec)
        p, q = 2 * 100.0 / 433.0, 2 * -50.0 / 238.0
        true = 5.0 * np.array([(1 + p) * (1 + q), (1 + p) * (1 - q), (1 - p) * (1 + q), (1 - p) * (1 - q)])
        assert np.allclose(cells, true * (1 + np.array(ERRORS.gain_error)) + ERRORS.zero_kg, atol=1e-3)
        assert np.allclose(sim.truth()[-1], [100.0, -50.0])  # the truth is where the mass stands
        sim.place_load(PlateLoad.empty())
        out, _ = pump(src, 0.6)
        assert np.allclose(spec.to_physical(cat(out["plate_raw"]))[-20:].mean(axis=0), ERRORS.zero_kg, atol=1e-3)
        sim.place_load(None)  # the subject back on the plate
        out, _ = pump(src, 0.6)
        assert spec.to_physical(cat(out["plate_raw"]))[-20:].sum(axis=1).mean() > 60
    finally:
        src.close()
        sim.stop()


def test_balance_board_places_a_known_mass_with_its_errors(tmp_path) -> None:  # noqa: ANN001
    sim = BalanceBoardSimulator(transport="fifo", fifo_path=str(tmp_path / "wbb.events"), errors=ERRORS)
    sim.place_load(PlateLoad(mass_kg=20.0))
    sim.start()
    src = BalanceBoardSource(BalanceBoardConfig(device=sim.path, simulated=True))
    try:
        src.open()
        out, _ = pump(src, 1.2)
        spec = next(s for s in src.streams if s.name == "plate")
        cells, cop = _cells_and_cop(out, "plate", spec)
        expected = 5.0 * (1 + np.array(ERRORS.gain_error)) + ERRORS.zero_kg
        assert np.allclose(cells, expected, atol=0.006)  # 10 g codes
        assert np.hypot(*cop) > 1.0  # the errors move the COP off the centre where the mass stands
    finally:
        src.close()
        sim.stop()


def test_cell_errors_are_checked() -> None:
    with pytest.raises(ValueError, match="gain_error must be > -1"):
        CellErrors(gain_error=(-1.0, 0, 0, 0))
    with pytest.raises(ValueError, match="4 finite values"):
        CellErrors(zero_kg=(float("nan"), 0, 0, 0))
