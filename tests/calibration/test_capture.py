"""The capture helper: N seconds of one stream after a given time, in physical units, bounded in time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from acquisition.chunk import Chunk
from acquisition.events import Event
from acquisition.source import SourceError
from acquisition.stream import DeviceIdentity, StreamSpec
from calibration.capture import capture, channel_index, stream_spec

DEV = DeviceIdentity(model="fake", serial="F-1", simulated=True)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakePlate:
    """100 Hz samples whose raw value is the sample index, scale 0.5; `drop` sequence numbers are never sent."""

    name = "fake"

    def __init__(self, clock: Clock, *, rate: float = 100.0, drop: Sequence[int] = (), mute: bool = False) -> None:
        self.clock, self.rate, self.drop, self.mute = clock, rate, set(drop), mute
        self.k = int(clock.t * rate)
        self.streams = [StreamSpec(name="plate_raw", kind="plate", channels=("TR", "BR", "TL", "BL"),
                                   units=("kg",) * 4, dtype="int32", nominal_rate=rate, scale=(0.5,) * 4,
                                   device=DEV),
                        StreamSpec(name="cop", kind="cop", channels=("x_ml", "y_ap"), units=("mm", "mm"),
                                   dtype="float64", nominal_rate=rate, device=DEV)]

    def open(self) -> None: ...

    def read(self, timeout: float) -> Sequence[Chunk]:
        self.clock.t += timeout
        end = int(self.clock.t * self.rate)
        seq = np.array([k for k in range(self.k, end) if k not in self.drop], dtype=np.int64)
        self.k = end
        if self.mute or not len(seq):
            return []
        t = seq / self.rate
        raw = np.repeat(seq[:, None], 4, axis=1).astype(np.int32)
        return [Chunk.build("cop", np.zeros((len(seq), 2)), seq, t), Chunk.build("plate_raw", raw, seq, t)]

    def drain_events(self) -> Sequence[Event]:
        return []

    def counters(self) -> Mapping[str, int]:
        return {}

    def close(self) -> None: ...


def test_capture_takes_the_samples_after_start_in_physical_units() -> None:
    clock = Clock()
    src = FakePlate(clock)
    cap = capture(src, "plate_raw", 1.5, start_after=clock.t + 0.5, clock=clock)
    assert cap.n == 150 and cap.missing == 0
    assert cap.t_lsl[0] >= 100.5 and cap.t_lsl[0] < 100.52
    assert np.array_equal(cap.values[:, 0], cap.device_seq * 0.5)  # raw * scale
    assert abs(cap.duration_s - 1.49) < 1e-9


def test_capture_counts_missing_samples() -> None:
    clock = Clock()
    src = FakePlate(clock, drop=range(10_020, 10_025))
    cap = capture(src, "plate_raw", 1.0, clock=clock)
    assert cap.n == 100 and cap.missing == 5


def test_a_silent_device_ends_the_capture_with_one_line() -> None:
    clock = Clock()
    with pytest.raises(SourceError, match=r"fake: 0 of 100 samples of plate_raw within 4.0 s"):
        capture(FakePlate(clock, mute=True), "plate_raw", 1.0, clock=clock)
    assert clock.t < 105  # bounded: 2 x 1 s + 2 s


def test_streams_are_picked_by_name_or_by_what_they_are() -> None:
    src = FakePlate(Clock())
    with pytest.raises(SourceError, match="no stream 'plate'"):
        capture(src, "plate", 1.0)
    assert stream_spec(src, lambda s: s.kind == "plate", "plate").name == "plate_raw"
    with pytest.raises(SourceError, match="expected one regular stream, found 2"):
        stream_spec(src, lambda s: s.nominal_rate > 0, "regular")
    assert channel_index(src.streams[0], ("BL", "TR")) == [3, 0]
