import socket
import uuid

import numpy as np
import pytest

from acquisition.lslenv import pylsl
from acquisition.source import Source, SourceError
from drivers.stabilometry.config import LslPlateConfig
from drivers.stabilometry.lsl_plate import LslPlateSource, check_channels
from drivers.stabilometry.lsl_plate_sim import LslPlateSimulator, make_info

from .conftest import cat, names, pump


def _name() -> str:
    return "TestPlate_" + uuid.uuid4().hex[:8]


def test_real_outlet_cop_vs_truth_raw_stamps_and_clock_events():
    name = _name()
    sim = LslPlateSimulator(name, h_mm=40.0, seed=3).start()
    src = LslPlateSource(LslPlateConfig(stream_name=name, h_mm=40.0, clock_every_s=0.5))
    try:
        src.open()
        assert isinstance(src, Source)
        raw, cop = src.streams
        assert raw.units == ("N", "N", "N", "N.m", "N.m", "N.m") and raw.device.simulated
        # the record names the stream, never the PC that sent it
        assert raw.device.transport == f"lsl:{name}" and socket.gethostname() not in raw.model_dump_json()
        out, events = pump(src, 1.6)
        t = cat(out["cop"], "t_lsl")
        tt, tc = sim.truth()
        idx = np.searchsorted(tt, t)
        np.testing.assert_array_equal(tt[idx], t)  # the pushed stamps, untouched (no LSL post-processing)
        err = cat(out["cop"]) - tc[idx]
        assert np.sqrt(np.mean(err**2)) < 0.5
        seq = cat(out["cop"], "device_seq")
        assert seq[0] == 0 and np.all(np.diff(seq) == 1)
        clock = [e for e in events if e.kind == "clock" and e.name == "lsl.time_correction"]
        assert len(clock) >= 2 and all(abs(e.payload["offset_s"]) < 0.01 for e in clock)  # same host
    finally:
        src.close()
        sim.stop()


def test_forgetting_h_units_would_show_h_is_converted_from_mm():
    name = _name()
    sim = LslPlateSimulator(name, h_mm=40.0, seed=4).start()
    src = LslPlateSource(LslPlateConfig(stream_name=name, h_mm=0.0))  # wrong h: 40 mm ignored
    try:
        src.open()
        out, _ = pump(src, 0.6)
        t = cat(out["cop"], "t_lsl")
        tt, tc = sim.truth()
        err = cat(out["cop"]) - tc[np.searchsorted(tt, t)]
        assert np.sqrt(np.mean(err**2)) > 0.05  # shear forces x h shift the COP: h matters, so its unit does
    finally:
        src.close()
        sim.stop()


def test_step_off_is_an_event():
    name = _name()
    sim = LslPlateSimulator(name, seed=5).start()
    src = LslPlateSource(LslPlateConfig(stream_name=name))
    try:
        src.open()
        pump(src, 0.2)
        sim.set_step("stab_off", 10.0)
        out, events = pump(src, 2.0, until=lambda o: src.counters()["stepped_off"] >= 1)
        assert "subject.stepped_off" in names(events)
        assert np.isnan(cat(out["cop"])[-1]).all()
    finally:
        src.close()
        sim.stop()


@pytest.mark.parametrize("units", [("N", "N", "N", "Nm", "N*m", "N.m"), ("N", "N", "N", "N·m", "Nm", "Nm")])
def test_moment_unit_spellings_accepted(units):
    cols, norm = check_channels(["Fx", "Fy", "Fz", "Mx", "My", "Mz"], units)
    assert cols == [0, 1, 2, 3, 4, 5] and norm[3:] == ("N.m",) * 3


def test_channels_found_by_label_in_any_order():
    cols, _ = check_channels(["Mz", "My", "Mx", "Fz", "Fy", "Fx"], ["N.m"] * 3 + ["N"] * 3)
    assert cols == [5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize("units,msg", [
    (("N", "N", "kN", "N.m", "N.m", "N.m"), "channel 'Fz' has unit 'kN'"),
    (("N", "N", "N", "N.cm", "N.m", "N.m"), "channel 'Mx' has unit 'N.cm'"),
    (("N", "N", "N", "N.m", "N.m", ""), "channel 'Mz' has unit ''"),
])
def test_wrong_units_refused_naming_channel_and_unit(units, msg):
    with pytest.raises(SourceError, match=msg):
        check_channels(["Fx", "Fy", "Fz", "Mx", "My", "Mz"], units)


def test_wrong_unit_on_a_real_outlet_is_refused_at_open():
    name = _name()
    outlet = pylsl.StreamOutlet(make_info(name, rate=100.0, source_id="bad-units",
                                          units=("N", "N", "N", "N.m", "kN.m", "N.m")))
    try:
        src = LslPlateSource(LslPlateConfig(stream_name=name, resolve_timeout_s=2.0))
        with pytest.raises(SourceError, match="channel 'My' has unit 'kN.m'"):
            src.open()
    finally:
        del outlet


def test_missing_stream_and_missing_label():
    with pytest.raises(SourceError, match="no LSL stream named"):
        LslPlateSource(LslPlateConfig(stream_name=_name(), resolve_timeout_s=0.3)).open()
    with pytest.raises(SourceError, match="no channel labelled 'Fz'"):
        check_channels(["Fx", "Fy", "F_z", "Mx", "My", "Mz"], ["N"] * 3 + ["N.m"] * 3)


def test_a_stream_without_source_id_gets_the_inlets_serial_not_its_per_run_uid():
    """The same device must keep its serial from run to run: `info.uid()` is new at every outlet start."""
    from acquisition.lsl.inlet import NO_SOURCE_ID

    name = _name()
    outlet = pylsl.StreamOutlet(make_info(name, rate=100.0, source_id=""), 5, 10)
    src = LslPlateSource(LslPlateConfig(stream_name=name, h_mm=40.0))
    try:
        src.open()
        raw, cop = src.streams
        assert raw.device.serial == cop.device.serial == NO_SOURCE_ID
        assert outlet.get_info().uid() not in raw.model_dump_json()
    finally:
        src.close()
        del outlet
