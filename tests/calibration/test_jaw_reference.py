"""jaw-reference: incisal offset and ICP recovered from tracked poses with known truth (synthetic poses, then the
wire-level Aurora simulator with a pointer), and the rejections (a slipping pointer, a patient not in ICP, too few
frames, an implausible offset, a disturbed field)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from acquisition.calibration_config import CalibrationSettings, JawReferenceSettings
from acquisition.config import AcqSettings
from calibration.jaw_reference import ToolTrack, assess_jaw_reference
from calibration.records import CalibrationRefused
from sessions.calibrate_kinds import jaw_reference as kind
from sessions.calibrate_kinds.base import CalibrationContext

OFFSET = np.array([2.0, 18.0, 31.0])  # incisal point in the mandibular-sensor frame
ICP = np.array([1.0, -64.0, 92.0])  # incisal point at ICP, anatomical head frame
TIP = np.array([0.0, 0.0, 120.0])  # pointer tip in the pointer's frame
AXES = Rotation.from_euler("xyz", [10, -5, 3], degrees=True).as_matrix()  # head sensor -> anatomical


def _track(r: Rotation, t: np.ndarray, *, err: float = 0.05, valid: np.ndarray | None = None) -> ToolTrack:
    q = r.as_quat()[:, [3, 0, 1, 2]]  # NDI order: q0 first
    n = len(t)
    return ToolTrack(q=q, t=t, valid=np.ones(n, bool) if valid is None else valid, error=np.full(n, err))


def _poses(n: int, moves_mm: np.ndarray, *, seed: int = 0, slip_mm: float = 0.0) -> dict[str, ToolTrack]:
    """Head swaying in the tracker frame, mandible with its incisal point at ICP + `moves_mm` (anatomical head
    frame), and a pointer whose tip is on the incisal point (+ a random slip)."""
    rng = np.random.default_rng(seed)
    r_head = Rotation.from_euler("xyz", np.column_stack([20 + rng.normal(0, 1, n), rng.normal(0, 2, n),
                                                         rng.normal(0, 2, n)]), degrees=True)
    t_head = np.array([10.0, -20.0, -180.0]) + rng.normal(0, 1.0, (n, 3))
    r_jh = Rotation.from_euler("xyz", rng.normal(0, 3, (n, 3)), degrees=True)  # mandible in the head frame
    p_head = (ICP + moves_mm) @ AXES  # anatomical -> head-sensor coordinates (AXES rows are the anatomical axes)
    t_jh = p_head - r_jh.apply(OFFSET)
    r_jaw = r_head * r_jh
    t_jaw = r_head.apply(t_jh) + t_head
    tip_world = r_jaw.apply(OFFSET) + t_jaw + rng.normal(0, slip_mm, (n, 3)) * (slip_mm > 0)
    r_ptr = Rotation.from_euler("xyz", np.column_stack([-60 + rng.normal(0, 3, n), rng.normal(0, 3, n),
                                                        30 + rng.normal(0, 3, n)]), degrees=True)
    t_ptr = tip_world - r_ptr.apply(TIP)
    return {"head": _track(r_head, t_head), "jaw": _track(r_jaw, t_jaw), "pointer": _track(r_ptr, t_ptr)}


def _assess(pointer: dict[str, ToolTrack], icp: dict[str, ToolTrack], **kw: object):
    return assess_jaw_reference(pointer_capture=(pointer["jaw"], pointer["pointer"]),
                                icp_capture=(icp["head"], icp["jaw"]), pointer_tip_mm=TIP, head_axes=AXES, **kw)


def _still(n: int = 80) -> np.ndarray:
    return np.zeros((n, 3))


def test_offset_and_icp_are_recovered_exactly_from_noise_free_poses() -> None:
    rest = np.tile([0.0, -2.4, -0.7], (80, 1))  # the pointer goes on at the rest position (mouth slightly open)
    res = _assess(_poses(80, rest, seed=1), _poses(80, _still(), seed=2))
    assert res.passed, res.reasons
    np.testing.assert_allclose(res.values["incisal_offset_mm"], OFFSET, atol=1e-3)
    np.testing.assert_allclose(res.values["icp_mm"], ICP, atol=1e-3)
    assert res.residuals["offset_spread_mm"] < 1e-3 and res.residuals["icp_spread_mm"] < 1e-3
    np.testing.assert_allclose(res.values["head_axes"], AXES, atol=1e-8)
    assert res.residuals["pointer_frames"] == res.residuals["icp_frames"] == 80


def test_frames_with_a_tool_missing_are_left_out() -> None:
    pointer = _poses(60, _still(60), seed=3)
    gone = np.ones(60, bool)
    gone[::3] = False
    p = pointer["pointer"]
    # the left-out frames carry a nonsense pose: were they used, the offset would be off
    pointer["pointer"] = ToolTrack(q=p.q, t=np.where(gone[:, None], p.t, 1e4), valid=gone, error=p.error)
    res = _assess(pointer, _poses(60, _still(60), seed=4))
    assert res.passed and res.residuals["pointer_frames"] == 40 and res.residuals["pointer_frames_total"] == 60
    np.testing.assert_allclose(res.values["incisal_offset_mm"], OFFSET, atol=1e-3)


def test_a_slipping_pointer_fails() -> None:
    res = _assess(_poses(80, _still(), seed=5, slip_mm=2.0), _poses(80, _still(), seed=6))
    assert not res.passed
    assert res.reasons[0].startswith("pointer capture: the tip moved") and "hold the pointer still" in res.reasons[0]
    assert res.residuals["offset_spread_mm"] > 1.0


def test_a_patient_not_holding_icp_fails() -> None:
    opening = np.zeros((80, 3))
    opening[:, 1] = -np.linspace(0, 12, 80)  # the mouth opens during the hold
    res = _assess(_poses(80, _still(), seed=7), _poses(80, opening, seed=8))
    assert [r.split(":")[0] for r in res.reasons] == ["ICP capture"]
    assert "not held together in ICP" in res.reasons[0]
    np.testing.assert_allclose(res.values["incisal_offset_mm"], OFFSET, atol=1e-3)  # the offset was fine


def test_too_few_frames_is_refused() -> None:
    few = _poses(10, _still(10), seed=9)
    with pytest.raises(CalibrationRefused, match="10 of 10 frames .* need at least 20: is the pointer in the field"):
        _assess(few, _poses(80, _still(), seed=10))
    with pytest.raises(CalibrationRefused, match="ICP frames"):
        _assess(_poses(80, _still(), seed=11), few)


def test_a_wrong_pointer_tip_gives_an_implausible_offset_and_a_disturbed_field_fails() -> None:
    pointer, icp = _poses(80, _still(), seed=12), _poses(80, _still(), seed=13)
    res = assess_jaw_reference(pointer_capture=(pointer["jaw"], pointer["pointer"]),
                               icp_capture=(icp["head"], icp["jaw"]), pointer_tip_mm=TIP + [0, 0, 400.0],
                               head_axes=AXES)
    assert any("outside 5-150 mm" in r for r in res.reasons)
    noisy = icp["head"].model_copy(update={"error": np.full(80, 2.5)})
    res = _assess(pointer, {"head": noisy, "jaw": icp["jaw"]})
    assert res.reasons == ["the tracker reported a tool error of 2.50 mm RMS (limit 1 mm): metal or a field "
                           "disturbance near the sensors?"]


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    kind.add_arguments(p)
    return p.parse_args(list(argv))


def _ctx() -> CalibrationContext:
    cal = CalibrationSettings(jaw_reference=JawReferenceSettings(capture_s=1.0, settle_s=0.4))
    return CalibrationContext(settings=AcqSettings(calibration=cal), operator="tech1", simulate=True,
                              say=lambda _: None, prompt=lambda _: pytest.fail("a simulated run never prompts"))


def test_the_procedure_on_the_simulated_tracker_finds_its_truth() -> None:
    """Through the wire: the Aurora simulator with a pointer, polled by the driver's polling process."""
    rec = kind.run(_args(), _ctx())
    assert rec.kind == "jaw-reference" and rec.passed, rec.reasons
    assert rec.device_serial == "P6-00417" and rec.device_model == "NDI Aurora" and rec.simulated
    assert rec.values["tools"] == {"head": "3C5A11B0", "jaw": "3C5A11B1", "pointer": "3C5A11B2"}
    # truth of the simulator; the protocol's quantisation (0.01 mm, 1e-4) and the jaw's 0.05-mm noise
    np.testing.assert_allclose(rec.values["incisal_offset_mm"], kind.SIM_INCISAL_OFFSET_MM, atol=0.03)
    np.testing.assert_allclose(rec.values["icp_mm"], kind.SIM_ICP_MM, atol=0.05)
    assert rec.residuals["pointer_frames"] >= 30 and rec.residuals["icp_frames"] >= 30


def test_the_procedure_fails_a_slipping_pointer_on_the_simulated_tracker() -> None:
    rec = kind.run(_args("--sim-pointer-slip", "3"), _ctx())
    assert not rec.passed and rec.reasons[0].startswith("pointer capture: the tip moved")
    assert rec.residuals["offset_spread_mm"] > 1.0
