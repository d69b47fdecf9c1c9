"""The step checks on synthetic chunks: known signals in, known verdicts out (no session)."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.chunk import Chunk
from acquisition.events import Event
from sessions.protocol import StreamQc
from sessions.runner.step_qc import (StreamTally, applicable_limits, check_device_events, check_jaw_opening,
                                     check_plate_loaded, check_samples, check_saturation, check_scans, check_signal)
from tests.sessions.runner_fakes import PlateLoad, emg_flat_channel, emg_live, emg_saturating, emg_spec, jaw_opening, \
    jaw_spec, plate_spec

RATE = 500.0


def chunks(spec, signal, n: int, *, t0: float = 100.0, size: int = 37, skip=()):  # type: ignore[no-untyped-def]
    """`n` samples of `signal` from t0 at the spec's rate, in chunks of `size`; sample numbers in `skip` lost."""
    seq = np.array([k for k in range(n) if k not in set(skip)], dtype=np.int64)
    for i in range(0, len(seq), size):
        s = seq[i:i + size]
        yield Chunk.build(spec.name, signal(s), s, t0 + s / spec.nominal_rate)


def tally(spec, signal, n: int, *, t0: float = 100.0, t1: float | None = None, limits=None, load=None,  # type: ignore[no-untyped-def]
          skip=()) -> StreamTally:
    t = StreamTally(spec, t0, t1 if t1 is not None else t0 + n / spec.nominal_rate, limits=limits, load_min_kg=load)
    for ch in chunks(spec, signal, n, t0=t0, skip=skip):
        t.add(ch)
    return t


def test_samples_counts_only_the_interval_and_reports_holes() -> None:
    spec = emg_spec(rate=RATE)
    t = StreamTally(spec, 101.0, 102.0, limits=None, load_min_kg=None)  # samples 500..999 of 0..999
    for ch in chunks(spec, emg_live, 1000, skip=range(600, 620)):
        t.add(ch)
    assert t.n == 480 and t.missing == 20 and t.latest_t == pytest.approx(100.0 + 999 / RATE)
    c = check_samples(t, min_share=0.95)
    assert c.status == "pass" and c.value == pytest.approx(0.96)
    assert "480 of 500 expected samples received (96.0 %" in c.detail and "20 missing in device_seq" in c.detail
    assert check_samples(t, min_share=0.97).status == "fail"


def test_an_irregular_stream_needs_one_sample() -> None:
    spec = plate_spec(rate=0.0)
    empty = StreamTally(spec, 0.0, 1.0, limits=None, load_min_kg=None)
    assert check_samples(empty, min_share=0.95).status == "fail"


def test_a_flat_channel_is_named() -> None:
    spec = emg_spec(rate=RATE)
    ok = check_signal(tally(spec, emg_live, 500), StreamQc(), flat_ptp=0.0)
    assert ok.status == "pass" and ok.detail == "signal on 4 channel(s)"
    bad = check_signal(tally(spec, emg_flat_channel, 500), StreamQc(), flat_ptp=0.0)
    assert bad.status == "fail" and bad.detail == "no signal on MM_L (peak-to-peak 0 adc_code over 500 samples)"
    # only the channels the protocol names are judged; none named: not judged
    assert check_signal(tally(spec, emg_flat_channel, 500), StreamQc(signal_channels=("TA_R",)),
                        flat_ptp=0.0).status == "pass"
    assert check_signal(tally(spec, emg_flat_channel, 500), StreamQc(signal_channels=()),
                        flat_ptp=0.0).status == "not_judged"
    empty = StreamTally(spec, 0.0, 1.0, limits=None, load_min_kg=None)
    assert check_signal(empty, StreamQc(), flat_ptp=0.0).detail == "no signal: no samples received"


def test_saturation_share_at_the_adc_limits() -> None:
    spec = emg_spec(rate=RATE)
    rules = StreamQc(adc_limits=(0, 1023), raw_units="adc_code")
    limits = applicable_limits(rules, spec)
    assert limits == (0, 1023)
    assert applicable_limits(StreamQc(adc_limits=(0, 1023), raw_units="uV"), spec) is None  # another driver's units
    ok = check_saturation(tally(spec, emg_live, 500, limits=limits), limits, max_share=0.01)
    assert ok.status == "pass" and ok.value == 0.0
    bad = check_saturation(tally(spec, emg_saturating, 500, limits=limits), limits, max_share=0.01)
    assert bad.status == "fail" and bad.value == pytest.approx(0.5)
    assert bad.detail.startswith("TA_R at the ADC limits [0, 1023] for 50.0 % of samples")
    assert check_saturation(tally(spec, emg_live, 500), None, max_share=0.01).status == "not_judged"


def test_jaw_opening_visible_or_not() -> None:
    spec = jaw_spec()
    seen = check_jaw_opening([tally(spec, jaw_opening(15.0), 100)], channel="y_vert", min_mm=10.0)
    assert seen.status == "pass" and seen.value == pytest.approx(15.0, abs=0.2)
    small = check_jaw_opening([tally(spec, jaw_opening(4.0), 100)], channel="y_vert", min_mm=10.0)
    assert small.status == "fail" and "expected >= 10 mm" in small.detail
    none = check_jaw_opening([tally(emg_spec(), emg_live, 100)], channel="y_vert", min_mm=10.0)
    assert none.status == "fail" and "no jaw stream" in none.detail


def test_plate_loaded_for_the_whole_step() -> None:
    spec = plate_spec()
    load = PlateLoad(70.0)
    full = check_plate_loaded([tally(spec, load, 300, load=20.0)], min_kg=20.0, min_share=0.98)
    assert [c.status for c in full] == ["pass"] and full[0].value == 1.0

    def stepped_off(seq: np.ndarray) -> np.ndarray:  # the last third of the step off the plate
        out = PlateLoad(70.0)(seq)
        out[seq >= 200] = 0
        return out

    off = check_plate_loaded([tally(spec, stepped_off, 300, load=20.0)], min_kg=20.0, min_share=0.98)
    assert off[0].status == "fail" and off[0].value == pytest.approx(200 / 300, abs=1e-3)
    assert check_plate_loaded([tally(emg_spec(), emg_live, 10, load=20.0)], min_kg=20.0,
                              min_share=0.98)[0].detail.startswith("plate load not judged")


def test_scans_and_device_events() -> None:
    assert check_scans(2, 3).status == "fail" and check_scans(3, 3).detail == "3 of 3 expected capture(s) ingested"
    assert check_scans(0, 0).status == "not_judged"

    def ev(name: str) -> Event:
        return Event(t_lsl=1.0, utc="2026-01-01T00:00:00Z", kind="device", name=name, stream="emg_a")

    quiet = check_device_events([ev("frame.crc_failed")])
    assert quiet.status == "pass" and "frame.crc_failed (emg_a) x1" in quiet.detail
    unplugged = check_device_events([ev("link.disconnected"), ev("samples.missing"), ev("link.reconnected")])
    assert unplugged.status == "fail" and unplugged.value == 1
    assert unplugged.detail.startswith("device faults during the step: link.disconnected (emg_a) x1")
