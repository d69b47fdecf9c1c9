"""Synthetic inputs for the pre-flight tests: EMG noise of a known level, a plate with a known load, identities."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from acquisition.stream import DeviceIdentity, StreamSpec
from calibration.emg_noise import EmgSegment
from calibration.records import CalibrationRecord, new_record
from drivers.generated.paced import PacedSource

AT = _dt.datetime(2026, 3, 2, 9, 0, tzinfo=_dt.timezone.utc)
EMG_CHANNELS = ("TA_R", "TA_L", "MM_R", "MM_L")
CELLS = ("TR", "BR", "TL", "BL")


def device(serial: str, *, model: str = "Fake", simulated: bool = False, transport: str = "serial:/dev/x"
           ) -> DeviceIdentity:
    return DeviceIdentity(model=model, serial=serial, simulated=simulated, transport=transport)


def emg_spec(name: str = "emg", serial: str = "EMG-1", *, rate: float = 1000.0, simulated: bool = True,
             transport: str = "serial:/dev/x") -> StreamSpec:
    return StreamSpec(name=name, kind="emg", channels=EMG_CHANNELS, units=("uV",) * 4, dtype="float32",
                      nominal_rate=rate, device=device(serial, model="Fake EMG", simulated=simulated,
                                                       transport=transport))


def plate_spec(serial: str = "PLATE-1", *, simulated: bool = True) -> StreamSpec:
    # raw counts of 10 g with an offset: the gate must go through the stream's scale and offset
    return StreamSpec(name="plate_raw", kind="plate", channels=CELLS, units=("kg",) * 4, dtype="int32",
                      nominal_rate=100.0, scale=(0.01,) * 4, offset=(-5.0,) * 4, raw_units="count",
                      device=device(serial, model="Fake plate", simulated=simulated))


def emg_segment(rms_uv: tuple[float, ...] = (2.0, 2.0, 2.0, 2.0), *, seconds: float = 2.0, rate: float = 1000.0,
                stream: str = "emg", missing: int = 0, seed: int = 1) -> EmgSegment:
    n = int(seconds * rate)
    rng = np.random.default_rng(seed)
    uv = rng.normal(0.0, 1.0, (n, len(rms_uv))) * np.asarray(rms_uv) + 300.0  # a DC offset the filter removes
    return EmgSegment(stream=stream, channels=EMG_CHANNELS[: len(rms_uv)], rate=rate, uv=uv,
                      t=100.0 + np.arange(n) / rate, missing=missing)


class NoiseGenerator:
    """Gaussian samples of `sigma` around `mean` per channel (for PacedSource)."""

    def __init__(self, mean: tuple[float, ...], sigma: tuple[float, ...], seed: int = 0) -> None:
        self.mean, self.sigma = np.asarray(mean), np.asarray(sigma)
        self.rng = np.random.default_rng(seed)

    def next(self, n: int) -> np.ndarray:
        return self.mean + self.rng.normal(0.0, 1.0, (n, len(self.mean))) * self.sigma


def emg_source(serial: str = "EMG-1", sigma_uv: float = 2.0) -> PacedSource:
    return PacedSource(emg_spec(serial=serial), NoiseGenerator((0.0,) * 4, (sigma_uv,) * 4, seed=3))


def plate_source(serial: str = "PLATE-1", load_kg: float = 0.0) -> PacedSource:
    """Cells in kg = raw * 0.01 - 5: `load_kg` shared by the four cells, encoded as raw counts."""
    gen = NoiseGenerator((load_kg / 4,) * 4, (0.005,) * 4, seed=4)
    return PacedSource(plate_spec(serial), gen, encode=lambda kg: np.rint((kg + 5.0) / 0.01))


def record(kind: str, serial: str, *, days_ago: float = 0.1, valid_days: float = 30.0, passed: bool = True,
           simulated: bool = False, values: dict[str, object] | None = None,
           at: _dt.datetime = AT) -> CalibrationRecord:
    """A record of `kind` for `serial`, performed `days_ago` before `at`."""
    return new_record(kind=kind, device_serial=serial, performed_by="tech1",  # type: ignore[arg-type]
                      valid_for=_dt.timedelta(days=valid_days), values=values or {"x": 1},
                      reasons=() if passed else ("cell TR gain error +3.00 %",), simulated=simulated,
                      now=at - _dt.timedelta(days=days_ago))
