"""LSL EMG source: channel mapping, unit checks and raw timestamps, against a real pylsl outlet on 127.0.0.1."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

from acquisition.lslenv import pylsl
from acquisition.source import SourceError
from drivers.emg.lsl_emg import LslEmgConfig, LslEmgSource


def outlet(name: str, labels: list[str], unit: str) -> "pylsl.StreamOutlet":
    info = pylsl.StreamInfo(name, "EMG", len(labels), 1000.0, pylsl.cf_float32, "amp-" + name)
    chans = info.desc().append_child("channels")
    for lab in labels:
        ch = chans.append_child("channel")
        ch.append_child_value("label", lab)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", "EMG")
    return pylsl.StreamOutlet(info)


def test_mapping_units_and_raw_timestamps() -> None:
    name = "emg-" + uuid.uuid4().hex[:8]
    out = outlet(name, ["EMG1", "EMG2", "AUX"], "mV")
    src = LslEmgSource(LslEmgConfig(lsl_name=name, channel_map={"EMG2": "MM_R", "EMG1": "TA_R"}, resolve_timeout_s=3))
    try:
        src.open()
        spec = src.streams[0]
        assert spec.channels == ("MM_R", "TA_R") and spec.units == ("uV", "uV") and spec.scale == (1e3, 1e3)
        time.sleep(0.3)
        stamps = pylsl.local_clock() - 0.1 + np.arange(100) * 1e-3
        for k, t in enumerate(stamps):
            out.push_sample([float(k), float(-k), 99.0], float(t))
        got = []
        end = time.monotonic() + 3
        while sum(c.n for c in got) < 100 and time.monotonic() < end:
            got += src.read(0.1)
        data = np.concatenate([c.data for c in got])
        ts = np.concatenate([c.t_lsl for c in got])
        assert np.array_equal(data[:, 0], -np.arange(100)) and np.array_equal(data[:, 1], np.arange(100))
        assert np.allclose(ts, stamps, atol=1e-6)  # raw stamps, not corrected
        assert np.array_equal(np.concatenate([c.device_seq for c in got]), np.arange(100))
        assert any(e.kind == "clock" for e in src.drain_events())
    finally:
        src.close()
        del out


def test_refuses_non_voltage_units_and_missing_channels() -> None:
    name = "emg-" + uuid.uuid4().hex[:8]
    out = outlet(name, ["EMG1", "EMG2"], "N")
    try:
        with pytest.raises(SourceError, match=r"unit 'N'.*microvolts"):
            LslEmgSource(LslEmgConfig(lsl_name=name, channel_map={"EMG1": "TA_R"}, resolve_timeout_s=3)).open()
        with pytest.raises(SourceError, match=r"\['EMG9'\] not found; the stream has \['EMG1', 'EMG2'\]"):
            LslEmgSource(LslEmgConfig(lsl_name=name, channel_map={"EMG9": "TA_R"}, resolve_timeout_s=3)).open()
        with pytest.raises(SourceError, match="expected 8 channels, found 2"):
            LslEmgSource(LslEmgConfig(lsl_name=name, channel_map={"EMG1": "TA_R"}, expected_channels=8,
                                      resolve_timeout_s=3)).open()
    finally:
        del out


def test_stream_not_found_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="no LSL stream named"):
        LslEmgSource(LslEmgConfig(lsl_name="nope-" + uuid.uuid4().hex[:6], channel_map={"a": "TA_R"},
                                  resolve_timeout_s=0.5)).open()
