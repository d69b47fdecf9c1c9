"""Plate tare and known-mass computations against loads whose truth is known: offsets, per-cell gains (whatever
way the plate shares a load between its four supports), mass and COP errors, and what is refused or failed."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquisition.calibration_config import PlateMassSettings, PlateTareSettings
from calibration.plate_mass import compute_mass, cop_mm, fit_gains, positions
from calibration.plate_tare import compute_tare
from calibration.records import CalibrationRefused

W, D = 433.0, 238.0
SX = np.array([1, 1, -1, -1])
SY = np.array([1, -1, 1, -1])
TWIST = SX * SY


def true_cells(mass: float, x: float, y: float, twist: float = 0.0) -> np.ndarray:
    """A load-sharing that satisfies force and moment balance: planar split plus `twist` (kg) of the free mode."""
    p, q = 2 * x / W, 2 * y / D
    return mass / 4 * (1 + p * SX + q * SY) + twist * TWIST / 4


def readings(mass: float, gains: np.ndarray, twists: list[float], fraction: float = 0.5) -> np.ndarray:
    return np.array([gains * true_cells(mass, p.x_mm, p.y_mm, t) for p, t in zip(positions(W, D, fraction), twists)])


# -- tare ------------------------------------------------------------------------------------------------
def test_tare_recovers_the_offsets() -> None:
    rng = np.random.default_rng(1)
    offsets = np.array([0.31, -0.12, 0.05, 0.0])
    cells = offsets + rng.normal(0, 0.01, (300, 4))
    res = compute_tare(cells, PlateTareSettings(), stream="plate_raw")
    got = np.array([res.values["offset_kg"][c] for c in ("TR", "BR", "TL", "BL")])  # type: ignore[index]
    assert np.allclose(got, offsets, atol=0.003)
    assert res.reasons == [] and res.residuals["samples"] == 300
    assert 0.008 < res.residuals["noise_kg"]["TR"] < 0.012  # type: ignore[index]


def test_tare_fails_a_cell_beyond_its_offset_limit() -> None:
    cells = np.array([1.4, 0.0, 0.0, 0.1]) + np.zeros((50, 4))
    cells[::2] += 0.0002
    res = compute_tare(cells, PlateTareSettings())
    assert res.reasons == ["cell TR offset +1.400 kg is beyond +-1 kg: the cell needs service"]


@pytest.mark.parametrize("load, noise, why", [
    (np.array([5.0, 5.0, 5.0, 5.0]), 0.0, "the plate is not empty: it reads +20.00 kg"),
    (np.zeros(4), 0.2, "the plate is not still: cell"),
])
def test_tare_refuses_a_loaded_or_moving_plate(load: np.ndarray, noise: float, why: str) -> None:
    cells = load + np.random.default_rng(2).normal(0, noise, (100, 4)) + np.linspace(0, 1e-4, 100)[:, None]
    with pytest.raises(CalibrationRefused, match=re.escape(why)):
        compute_tare(cells, PlateTareSettings())


def test_tare_refuses_non_finite_samples() -> None:
    cells = np.zeros((10, 4))
    cells[3, 1] = np.nan
    with pytest.raises(CalibrationRefused, match="non-finite"):
        compute_tare(cells, PlateTareSettings())


# -- known mass -------------------------------------------------------------------------------------------
def test_positions_load_their_cell_most() -> None:
    pos = positions(W, D, 0.5)
    assert [p.name for p in pos] == ["centre", "front-right", "back-right", "front-left", "back-left"]
    for i, p in enumerate(pos[1:]):
        assert int(np.argmax(true_cells(20, p.x_mm, p.y_mm))) == i  # TR, BR, TL, BL
        assert np.allclose(cop_mm(true_cells(20, p.x_mm, p.y_mm), W, D)[0], [p.x_mm, p.y_mm])


@settings(max_examples=60, deadline=None)
@given(gains=st.lists(st.floats(0.9, 1.1), min_size=4, max_size=4),
       twists=st.lists(st.floats(-2.0, 2.0), min_size=5, max_size=5), mass=st.floats(5.0, 100.0),
       fraction=st.floats(0.3, 0.8))
def test_gains_are_found_whatever_the_load_sharing(gains: list[float], twists: list[float], mass: float,
                                                   fraction: float) -> None:
    g = np.array(gains)
    found, rank = fit_gains(readings(mass, g, twists, fraction), positions(W, D, fraction), mass, W, D)
    assert rank == 4
    assert np.allclose(found, g, rtol=1e-9)


def test_a_good_plate_passes() -> None:
    res = compute_mass(readings(20.0, np.ones(4), [0.3, -0.2, 0.1, 0, 0.4]), positions(W, D, 0.5),
                       PlateMassSettings(), width_mm=W, depth_mm=D)
    assert res.reasons == []
    assert res.residuals["max_mass_error_pct"] < 1e-9 and res.residuals["max_cop_error_mm"] < 1e-9


def test_a_miscalibrated_cell_fails_with_its_gain_error() -> None:
    gains = np.array([1.03, 1.0, 1.0, 1.0])
    res = compute_mass(readings(20.0, gains, [0.0] * 5), positions(W, D, 0.5), PlateMassSettings(),
                       width_mm=W, depth_mm=D)
    assert res.values["gain_error_pct"] == {"TR": 3.0, "BR": 0.0, "TL": 0.0, "BL": 0.0}
    assert "cell TR gain error +3.00 % (tolerance +-2 %)" in res.reasons
    assert any(r.startswith("at the front-right the plate reads") for r in res.reasons)
    # the fitted gains explain the errors: after them nothing is left
    assert res.residuals["after_gains"] == {"max_mass_error_pct": 0.0, "max_cop_error_mm": 0.0}


def test_tolerances_are_the_settings() -> None:
    gains = np.array([1.025, 1.0, 1.0, 1.0])  # 1.25 % on the mass at front-right: fails the defaults, not a lax site
    where = positions(W, D, 0.5)
    strict = compute_mass(readings(20.0, gains, [0.0] * 5), where, PlateMassSettings(), width_mm=W, depth_mm=D)
    lax = compute_mass(readings(20.0, gains, [0.0] * 5), where,
                       PlateMassSettings(mass_tolerance_pct=2.0, cop_tolerance_mm=5.0, gain_tolerance_pct=3.0), width_mm=W, depth_mm=D)
    assert [r for r in strict.reasons if "gain error" in r] == ["cell TR gain error +2.50 % (tolerance +-2 %)"]
    assert "at the front-right the plate reads 20.250 kg for 20 kg (+1.25 %, tolerance +-1 %)" in strict.reasons
    assert lax.reasons == []
    assert lax.tolerances["mass_tolerance_pct"] == 2.0


def test_a_misplaced_mass_shows_as_cop_error_gains_cannot_explain() -> None:
    where = positions(W, D, 0.5)
    m = readings(20.0, np.ones(4), [0.0] * 5)
    m[0] = true_cells(20.0, 6.0, 0.0)  # the centre placement 6 mm to the right
    res = compute_mass(m, where, PlateMassSettings(), width_mm=W, depth_mm=D)
    assert "at the centre the COP is 6.00 mm from the mass (tolerance 2 mm)" in res.reasons
    assert res.residuals["after_gains"]["max_cop_error_mm"] > 1.0  # type: ignore[index]


def test_nothing_placed_is_refused() -> None:
    m = readings(20.0, np.ones(4), [0.0] * 5)
    m[3] = 0.02
    with pytest.raises(CalibrationRefused, match=re.escape("with the 20 kg mass at the front-left the plate reads 0.08 kg")):
        compute_mass(m, positions(W, D, 0.5), PlateMassSettings(), width_mm=W, depth_mm=D)


# -- one result model ----------------------------------------------------------------------------------------
def test_every_computation_returns_the_one_result_model_with_one_version_form() -> None:
    import datetime as dt

    from calibration import emg_noise, jaw_reference, plate_mass, plate_tare, scanner_scale
    from calibration.result import ProcedureResult

    tare = compute_tare(np.zeros((50, 4)) + np.linspace(0, 1e-4, 50)[:, None], PlateTareSettings())
    mass = compute_mass(readings(20.0, np.ones(4), [0.0] * 5), positions(W, D, 0.5), PlateMassSettings(),
                        width_mm=W, depth_mm=D)
    assert isinstance(tare, ProcedureResult) and isinstance(mass, ProcedureResult)
    assert (tare.procedure_version, mass.procedure_version) == ("plate-tare-1", "plate-mass-1")
    versions = {m.PROCEDURE_VERSION for m in (plate_tare, plate_mass, emg_noise, jaw_reference, scanner_scale)}
    assert versions == {"plate-tare-1", "plate-mass-1", "emg-noise-1", "jaw-reference-1", "scanner-scale-1"}
    rec = tare.to_record(kind="plate-tare", device_serial="CB-1", device_model="AMUSE-CB4", performed_by="t",
                         valid_for=dt.timedelta(days=1), simulated=False)
    assert rec.procedure_version == "plate-tare-1" and rec.passed
    with pytest.raises(ValueError, match="procedure_version 'plate-tare-1' is not one of plate-mass's"):
        tare.to_record(kind="plate-mass", device_serial="CB-1", device_model="", performed_by="t",
                       valid_for=dt.timedelta(days=1), simulated=False)
