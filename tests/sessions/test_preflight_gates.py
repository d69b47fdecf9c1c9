"""Each pre-flight gate on synthetic inputs: it passes on a good rig and fails, saying why, on a bad one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from acquisition.events import Event
from acquisition.preflight_config import DEFAULT_REQUIRED_CALIBRATIONS, PreflightSettings
from acquisition.replay.origin import replay_transport
from sessions.preflight import (ExpectedDevice, FoundDevice, PlateSample, TimeCorrections, calibration_serials,
                                check_calibrations, check_devices, check_emg_rest, check_lsl_clock,
                                check_plate_unloaded, check_production, estimate_visit_bytes, visit_duration_s)
from sessions.preflight.calibrations import required_calibrations
from sessions.preflight.disk import check_disk
from sessions.preflight.signals import corrections_from_events
from tests.sessions.preflight_fakes import AT, CELLS, device, emg_segment, emg_spec, plate_spec, record

PF = PreflightSettings()


# -- devices --------------------------------------------------------------------------------------------------
def _found() -> list[FoundDevice]:
    a, b = emg_spec("emg_a", "BIT-A"), emg_spec("emg_b", "BIT-B")
    return [FoundDevice(source="bitalino", stream="emg_a", identity=a.device, spec=a),
            FoundDevice(source="bitalino", stream="emg_b", identity=b.device, spec=b),
            FoundDevice(source="scanner", identity=device("SCN-9", model="Scanner X"))]


def test_devices_pass_with_expected_serials() -> None:
    expected = [ExpectedDevice(label="emg_a", stream="emg_a", serial="BIT-A"),
                ExpectedDevice(label="emg_b", stream="emg_b", serial="BIT-B", model="Fake EMG"),
                ExpectedDevice(label="scanner", source="scanner", serial="SCN-9")]
    r = check_devices(expected, _found())
    assert r.status == "pass", r.detail
    assert r.measured["emg_b"][0]["serial"] == "BIT-B" and r.threshold["scanner"]["serial"] == "SCN-9"


def test_devices_fail_on_wrong_serial_missing_device_and_open_error() -> None:
    expected = [ExpectedDevice(label="emg_a", stream="emg_a", serial="BIT-Z"),
                ExpectedDevice(label="plate", source="cellboard", serial="CB-1"),
                ExpectedDevice(label="jaw", source="aurora")]
    r = check_devices(expected, _found(), {"aurora": "no NDI tracker at /dev/aurora"})
    assert r.status == "fail"
    assert "emg_a: expected serial 'BIT-Z', found 'BIT-A'" in r.detail
    assert "plate: not found (source 'cellboard'" in r.detail
    assert "jaw: not opened: no NDI tracker at /dev/aurora" in r.detail


def test_devices_fail_on_wrong_model_and_when_nothing_is_expected() -> None:
    r = check_devices([ExpectedDevice(label="scanner", source="scanner", model="Scanner Y")], _found())
    assert r.status == "fail" and "expected model 'Scanner Y', found 'Scanner X'" in r.detail
    assert check_devices([], _found()).status == "fail"


# -- production -----------------------------------------------------------------------------------------------
def test_production_refuses_simulated_and_replayed_sources() -> None:
    live = FoundDevice(source="bitalino", stream="emg", identity=device("BIT-A"))
    sim = FoundDevice(source="sim", stream="plate", identity=device("SIM-1", simulated=True))
    replay = FoundDevice(source="replay", stream="jaw", identity=device("NDI-1", transport=replay_transport("ab" * 32)))
    lsl_replay = FoundDevice(source="lsl:x", stream="emg2", identity=device("BIT-A-replay", transport="lsl:x"))
    assert check_production([live], production=True).status == "pass"
    r = check_production([live, sim, replay, lsl_replay], production=True)
    assert r.status == "fail"
    assert r.measured["not_trial_data"] == {"plate": "simulated", "jaw": "replayed", "emg2": "replayed"}
    assert check_production([live], production=True, visit_simulated=True).status == "fail"
    # outside production: passes, but says which sources are not trial data
    r = check_production([live, sim], production=False)
    assert r.status == "pass" and "plate (simulated)" in r.detail


# -- calibrations ---------------------------------------------------------------------------------------------
def test_calibration_serials_follow_the_procedures_records() -> None:
    specs = [emg_spec("emg_a", "BIT-A"), emg_spec("emg_b", "BIT-B"), plate_spec("CB-1")]
    assert calibration_serials(specs, device("SCN-9")) == {
        "plate-tare": "CB-1", "plate-mass": "CB-1", "scanner-scale": "SCN-9"}


def _required() -> list:
    serials = {"plate-tare": "CB-1", "plate-mass": "CB-1", "scanner-scale": "SCN-9"}
    needed, problems = required_calibrations(["emg_jaw", "stabilometry", "scanner"], DEFAULT_REQUIRED_CALIBRATIONS,
                                             serials)
    assert problems == [] and [r.kind for r in needed] == ["plate-tare", "plate-mass", "scanner-scale"]
    return needed


KEYS = (("plate-tare", "CB-1"), ("plate-mass", "CB-1"), ("scanner-scale", "SCN-9"))


def test_calibrations_pass_when_every_required_record_is_in_force() -> None:
    recs = [record(k, s) for k, s in KEYS]
    r = check_calibrations(_required(), recs, at=AT)
    assert r.status == "pass", r.detail
    assert r.measured["plate-mass:CB-1"]["record"] == recs[1].id


def test_calibrations_fail_missing_expired_failed_and_simulated_in_production() -> None:
    recs = [record("plate-tare", "CB-1", days_ago=2, valid_days=1),  # expired yesterday
            record("plate-mass", "CB-1", days_ago=3), record("plate-mass", "CB-1", days_ago=1, passed=False)]
    r = check_calibrations(_required(), recs, at=AT)
    assert r.status == "fail"
    assert "plate-tare for CB-1: expired at" in r.detail
    assert "plate-mass for CB-1: the newest record" in r.detail and "gain error" in r.detail
    assert "scanner-scale for SCN-9 (scanner): no record" in r.detail
    # a record performed after the visit's time does not count for it
    assert check_calibrations(_required(), [record(k, s, days_ago=-1) for k, s in KEYS], at=AT).status == "fail"
    sim = [record(k, s, simulated=True) for k, s in KEYS]
    assert check_calibrations(_required(), sim, at=AT).status == "pass"
    r = check_calibrations(_required(), sim, at=AT, production=True)
    assert r.status == "fail" and "taken on a simulator" in r.detail


def test_calibrations_fail_when_the_device_to_check_is_not_opened() -> None:
    needed, problems = required_calibrations(["stabilometry"], DEFAULT_REQUIRED_CALIBRATIONS, {})
    r = check_calibrations(needed, [], at=AT, problems=problems)
    assert needed == [] and r.status == "fail" and "plate-tare (stabilometry): no opened device" in r.detail
    assert check_calibrations([], [], at=AT).status == "not_applicable"


# -- EMG rest noise -------------------------------------------------------------------------------------------
def test_emg_rest_noise_passes_on_a_quiet_amplifier() -> None:
    r = check_emg_rest([emg_segment((2.0, 2.0, 2.0, 2.0))], settings=PF)
    assert r.status == "pass", r.detail
    rms = r.measured["rest_rms_uv"]["emg"]
    # white noise keeps ~0.93 of its RMS through the 20-450 Hz band at 1 kHz: the filter ran, the DC went
    assert all(1.6 < v < 2.0 for v in rms.values()), rms


def test_emg_rest_noise_fails_on_a_loose_electrode_and_lost_samples() -> None:
    r = check_emg_rest([emg_segment((2.0, 25.0, 2.0, 2.0))], settings=PF)
    assert r.status == "fail" and r.detail.startswith("TA_L (emg): rest noise")
    assert "TA_R" not in r.detail
    r = check_emg_rest([emg_segment(missing=100)], settings=PF)
    assert r.status == "fail" and "100 of 2100 samples lost" in r.detail


def test_emg_rest_noise_fails_on_a_capture_too_short_to_judge() -> None:
    r = check_emg_rest([emg_segment(seconds=0.9)], settings=PF)
    assert r.status == "fail" and "900 samples (0.90 s) are too few to judge" in r.detail


def test_emg_rest_noise_mains_hum_is_notched_not_counted() -> None:
    seg = emg_segment((2.0, 2.0, 2.0, 2.0))
    hum = 50.0 * np.sin(2 * np.pi * 50.0 * seg.t)[:, None]
    r = check_emg_rest([seg.model_copy(update={"uv": seg.uv + hum})], settings=PF)
    assert r.status == "pass", r.detail


# -- plate unloaded -------------------------------------------------------------------------------------------
def _plate(load_kg: float, tare: dict[str, float] | None = None) -> PlateSample:
    rng = np.random.default_rng(0)
    kg = load_kg / 4 + rng.normal(0, 0.01, (100, 4))
    return PlateSample(stream="plate", channels=CELLS, kg=kg, tare_kg=tare)


def test_plate_unloaded_passes_near_zero() -> None:
    r = check_plate_unloaded(_plate(0.3), settings=PF)
    assert r.status == "pass" and abs(r.measured["total_kg"] - 0.3) < 0.05


def test_plate_unloaded_fails_with_someone_on_it() -> None:
    r = check_plate_unloaded(_plate(21.0), settings=PF)
    assert r.status == "fail" and "+21.0" in r.detail and "clear it" in r.detail


def test_plate_unloaded_subtracts_the_tare_in_force() -> None:
    tare = {c: 0.8 for c in CELLS}  # each cell reads 0.8 kg empty: 3.2 kg in all, which the tare explains
    assert check_plate_unloaded(_plate(3.2), settings=PF).status == "fail"
    r = check_plate_unloaded(_plate(3.2, tare), settings=PF)
    assert r.status == "pass" and r.measured["tare_applied"] is True


# -- LSL clock ------------------------------------------------------------------------------------------------
def test_lsl_clock_steady_passes_and_a_jump_fails() -> None:
    steady = TimeCorrections(offsets_s=(0.0101, 0.0103, 0.0102))
    assert check_lsl_clock({"emg": steady}, settings=PF).status == "pass"
    jump = TimeCorrections(offsets_s=(0.010, 0.0102, 0.0151))
    r = check_lsl_clock({"emg": steady, "jaw": jump}, settings=PF)
    assert r.status == "fail" and r.detail.startswith("jaw: LSL clock offset varies by 5.10 ms")
    assert r.measured["emg"]["spread_ms"] == pytest.approx(0.2, abs=1e-3)


def test_lsl_clock_fails_with_too_few_measurements() -> None:
    r = check_lsl_clock({"emg": TimeCorrections(offsets_s=(0.01,), failures=2)}, settings=PF)
    assert r.status == "fail" and "1 clock offset(s) measured (2 failed), 3 needed" in r.detail
    assert check_lsl_clock({}, settings=PF).status == "not_applicable"


def test_corrections_from_the_inlet_events() -> None:
    def ev(name: str, stream: str, **payload: object) -> Event:
        return Event(t_lsl=1.0, utc="2026-03-02T09:00:00.000000Z", kind="clock", name=name, stream=stream,
                     payload=payload)
    got = corrections_from_events([ev("lsl.time_correction", "emg", offset_s=0.5, t_local=1.0),
                                   ev("stream.opened", "emg"), ev("lsl.time_correction_failed", "jaw", error="x"),
                                   ev("lsl.time_correction", "emg", offset_s=0.6, t_local=2.0)])
    assert got == {"emg": TimeCorrections(offsets_s=(0.5, 0.6)), "jaw": TimeCorrections(failures=1)}


# -- disk -----------------------------------------------------------------------------------------------------
def test_visit_size_estimate() -> None:
    spec = emg_spec(rate=1000.0)  # 4 x float32 + 16 bytes per sample = 32 B at 1 kHz
    assert estimate_visit_bytes([spec], 10.0) == 320_000
    assert estimate_visit_bytes([spec], 10.0, scans=2, scan_bytes=1000.0) == 322_000
    assert visit_duration_s([30.0, 5.0], floor_s=0.0) == 35.0
    assert visit_duration_s([30.0, 5.0], floor_s=5400.0) == 5400.0


def test_disk_space_needs_twice_the_estimate(tmp_path: Path) -> None:
    assert check_disk(2_000, 1_000, path=tmp_path, settings=PF).status == "pass"
    r = check_disk(1_999, 1_000, path=tmp_path, settings=PF)
    assert r.status == "fail" and r.threshold["needed_bytes"] == 2_000 and str(tmp_path) in r.detail


def test_settings_refuse_an_unknown_kind_or_instrument() -> None:
    with pytest.raises(ValueError, match="unknown calibration kind 'plate-tar'"):
        PreflightSettings(required_calibrations={"stabilometry": ("plate-tar",)})
    with pytest.raises(ValueError, match="unknown instrument 'stab'"):
        PreflightSettings(required_calibrations={"stab": ("plate-tare",)})
    with pytest.raises(ValueError, match="emg-noise is taken on the patient during the visit"):
        PreflightSettings(required_calibrations={"emg_jaw": ("emg-noise",)})
    # a site's table changes the instruments it names; the others keep their defaults
    table = PreflightSettings(required_calibrations={"scanner": ()}).required_calibrations
    assert table == {**DEFAULT_REQUIRED_CALIBRATIONS, "scanner": ()}
