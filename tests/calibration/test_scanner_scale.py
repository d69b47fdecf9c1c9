"""scanner-scale: the scale error of captures of a sphere and a gauge block of known size (the truth of
`drivers.signals.reference_objects`), a scanner 2 % off rejected, a capture that is not the reference rejected,
then the whole procedure through the scanner driver on the simulator's export folder."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from acquisition.calibration_config import CalibrationSettings, ScannerScaleSettings
from acquisition.config import AcqSettings
from calibration.records import CalibrationRefused
from calibration.scanner_scale import BlockReference, SphereReference, assess_scanner_scale, fit_sphere
from drivers.signals.face import face_mesh
from drivers.signals.reference_objects import gauge_block, sphere_cap
from sessions.calibrate_kinds import scanner_scale as kind
from sessions.calibrate_kinds.base import CalibrationContext


@pytest.mark.parametrize("error_pct", [-2.0, 0.0, 0.4, 2.0])
def test_sphere_scale_error_against_the_truth(error_pct: float) -> None:
    ref = sphere_cap(100.0, seed=int(10 * error_pct) + 50)
    res = assess_scanner_scale(ref.vertices * (1 + error_pct / 100), ref.faces, SphereReference(diameter_mm=100.0))
    assert res.values["scale_error_pct"] == pytest.approx(error_pct, abs=0.02)
    assert res.values["measured_diameter_mm"] == pytest.approx(100.0 * (1 + error_pct / 100), abs=0.02)
    assert res.residuals["fit_rms_mm"] == pytest.approx(0.05, abs=0.01)  # the capture's noise
    assert res.passed is (abs(error_pct) <= 1.0)
    if not res.passed:
        assert res.reasons == [f"scale error {error_pct:+.2f} % (diameter {100 * (1 + error_pct / 100):.2f} mm for "
                               "100 mm) beyond +-1 %"]


def test_the_sphere_fit_is_exact_on_a_partial_noise_free_surface() -> None:
    ref = sphere_cap(40.0, cut=-0.2, noise_mm=0.0)  # less than half a sphere
    _, r, rms = fit_sphere(ref.vertices)
    assert r == pytest.approx(20.0, abs=1e-3) and rms < 1e-3


@pytest.mark.parametrize("error_pct", [-1.5, 0.0, 2.0])
def test_gauge_block_scale_error_against_the_truth(error_pct: float) -> None:
    ref = gauge_block((100.0, 50.0, 25.0), seed=3)
    k = 1 + error_pct / 100
    res = assess_scanner_scale(ref.vertices * k, ref.faces, BlockReference(size_mm=(25.0, 100.0, 50.0)))
    assert res.values["scale_error_pct"] == pytest.approx(error_pct, abs=0.15)
    np.testing.assert_allclose(res.values["measured_size_mm"], np.array([100.0, 50.0, 25.0]) * k, atol=0.06)
    assert res.passed is (abs(error_pct) <= 1.0)


def test_a_capture_that_is_not_the_reference_fails_whatever_its_scale() -> None:
    face = face_mesh(condition="max_opening", n_around=64, n_rings=24)
    res = assess_scanner_scale(face.vertices, face.faces, SphereReference(diameter_mm=100.0))
    assert any(r.startswith("the capture is not a sphere of the reference") for r in res.reasons)
    cap = sphere_cap(100.0)
    res = assess_scanner_scale(cap.vertices, cap.faces, BlockReference(size_mm=(100.0, 50.0, 25.0)))
    assert res.reasons[0].startswith("the capture is not a block of the reference")


def test_too_few_vertices_is_refused() -> None:
    cap = sphere_cap(100.0)
    with pytest.raises(CalibrationRefused, match="12 usable vertices, need at least 500"):
        assess_scanner_scale(cap.vertices[:12], cap.faces[:4], SphereReference(diameter_mm=100.0))


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    kind.add_arguments(p)
    return p.parse_args(list(argv))


def _ctx(**settings: object) -> CalibrationContext:
    cal = CalibrationSettings(scanner_scale=ScannerScaleSettings(**settings))  # type: ignore[arg-type]
    return CalibrationContext(settings=AcqSettings(calibration=cal), operator="tech1", simulate=True,
                              say=lambda _: None, prompt=lambda _: pytest.fail("a simulated run never prompts"))


def test_the_procedure_passes_a_calibrated_simulated_scanner() -> None:
    rec = kind.run(_args(), _ctx())
    assert rec.kind == "scanner-scale" and rec.passed, rec.reasons
    assert rec.device_serial == "SIM-SCAN-0001" and rec.simulated
    assert rec.values["reference"] == {"shape": "sphere", "diameter_mm": 100.0}
    assert abs(rec.values["scale_error_pct"]) < 0.02
    assert len(rec.values["capture_sha256"]) == 1 and len(rec.values["capture_sha256"][0]) == 64
    assert rec.tolerances == {"max_scale_error_pct": 1.0, "max_fit_rms_mm": 0.5, "min_vertices": 500}


def test_the_procedure_rejects_a_simulated_scanner_2_percent_off() -> None:
    rec = kind.run(_args("--sim-scale-error", "2.0"), _ctx())
    assert not rec.passed
    assert rec.values["scale_error_pct"] == pytest.approx(2.0, abs=0.02)
    assert rec.reasons == ["scale error +2.00 % (diameter 102.00 mm for 100 mm) beyond +-1 %"]


def test_the_procedure_with_a_gauge_block_and_a_small_sphere() -> None:
    rec = kind.run(_args("--reference", "block", "--sim-scale-error", "-0.5"), _ctx())
    assert rec.passed and rec.values["scale_error_pct"] == pytest.approx(-0.5, abs=0.15)
    # a 25-mm sphere is smaller than any face: the procedure's limits accept it
    rec = kind.run(_args("--diameter-mm", "25"), _ctx())
    assert rec.passed and rec.values["measured_diameter_mm"] == pytest.approx(25.0, abs=0.02)


def test_no_capture_in_time_is_refused(tmp_path) -> None:
    from sessions.calibrate_kinds.scanner_scale import _source, perform

    scanner = _source(tmp_path, usb=None, simulated=True)
    scanner.open()
    with pytest.raises(CalibrationRefused, match="no capture arrived in the export folder within 0.5 s"):
        perform(scanner, SphereReference(diameter_mm=100.0), _ctx(capture_timeout_s=0.5), do_scan=lambda _: None,
                serial="S-1")


def test_a_capture_the_driver_rejects_refuses_the_procedure_naming_the_problem(tmp_path) -> None:
    from sessions.calibrate_kinds.scanner_scale import _source, perform

    scanner = _source(tmp_path, usb=None, simulated=True)
    scanner.open()
    with pytest.raises(CalibrationRefused, match=r"the capture was rejected: capture_1/mesh\.ply: .*PLY"):
        perform(scanner, SphereReference(diameter_mm=100.0), _ctx(capture_timeout_s=10.0),
                do_scan=lambda _: (tmp_path / "SPHERE.ply").write_bytes(b"ply\nformat garbage\n" + bytes(300)),
                serial="S-1")


def test_non_finite_vertices_are_left_out_of_the_block_fit_as_of_the_sphere_fit() -> None:
    ref = gauge_block((100.0, 50.0, 25.0), seed=3)
    clean = assess_scanner_scale(ref.vertices, ref.faces, BlockReference(size_mm=(100.0, 50.0, 25.0)))
    v = ref.vertices.astype(np.float64).copy()
    v[[5, 17, 40]] = np.nan
    v[60, 1] = np.inf
    res = assess_scanner_scale(v, ref.faces, BlockReference(size_mm=(100.0, 50.0, 25.0)))
    assert res.residuals["vertices"] == len(v) - 4
    assert res.passed and np.isfinite(res.values["scale_error_pct"])
    np.testing.assert_allclose(res.values["measured_size_mm"], clean.values["measured_size_mm"], atol=0.05)


def test_files_already_in_the_export_folder_refuse_the_procedure(tmp_path) -> None:
    """A capture left from earlier (a face, yesterday's reference) must not be taken for the one asked for."""
    from sessions.calibrate_kinds.scanner_scale import _source, perform

    (tmp_path / "DUPONT_rest.obj").write_text("v 0 0 0\n")
    (tmp_path / ".DS_Store").write_bytes(b"\0")  # hidden files are not captures
    scanner = _source(tmp_path, usb=None, simulated=True)
    scanner.open()
    with pytest.raises(CalibrationRefused) as exc:
        perform(scanner, SphereReference(diameter_mm=100.0), _ctx(capture_timeout_s=5.0),
                do_scan=lambda _: pytest.fail("refused before the technician is asked to scan"), serial="S-1")
    assert str(exc.value) == ("the scanner's export folder already holds 1 file not yet processed: move it out of "
                              "the folder first, so that the capture measured is the one made now")
    assert "DUPONT" not in str(exc.value)  # a vendor file name may be the patient's


def test_the_reference_capture_is_not_reported_as_an_unassigned_scan(capsys: pytest.CaptureFixture[str]) -> None:
    rec = kind.run(_args(), _ctx())
    assert rec.passed
    assert "scan.unassigned" not in capsys.readouterr().err
