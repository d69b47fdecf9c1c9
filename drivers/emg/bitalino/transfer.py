"""EMG sensor transfer function (PLUX BITalino EMG sensor datasheet): ADC code -> microvolts, and its inverse.

    EMG(V) = (ADC / 2^n - 1/2) * VCC / G_EMG,   VCC = 3.3 V, G_EMG = 1009, n = 10 bits  (range +-1.64 mV)

Stored as per-channel `scale` (uV per code) and `offset` (uV) of the stream: uV = code * scale + offset.
One code is 3.19 uV: the rest EMG of the protocol (1.4-1.9 uV RMS) lies below one code, so rest recordings
from this sensor are quantisation-limited (see docs/devices.md).
"""

from __future__ import annotations

import numpy as np

VCC_V = 3.3
G_EMG = 1009.0
BITS = 10
SOURCE = (
    "PLUX EMG sensor datasheet (BITalino): EMG = (ADC/2^n - 1/2) * VCC / G_EMG, VCC = 3.3 V, G_EMG = 1009, "
    "n = 10; also PLUX biosignalsnotebooks 'EMG Sensor - Unit Conversion'"
)


def scale_uv(bits: int = BITS) -> float:
    """Microvolts per ADC code."""
    return VCC_V / (2**bits) / G_EMG * 1e6


def offset_uv() -> float:
    """Microvolts at code 0."""
    return -0.5 * VCC_V / G_EMG * 1e6


def codes_to_uv(codes: np.ndarray, bits: int = BITS) -> np.ndarray:
    return np.asarray(codes, dtype=np.float64) * scale_uv(bits) + offset_uv()


def uv_to_codes(uv: np.ndarray, bits: int = BITS) -> np.ndarray:
    """Inverse transfer function, rounded and clipped to the ADC range (what the sensor + ADC would give)."""
    c = np.rint((np.asarray(uv, dtype=np.float64) - offset_uv()) / scale_uv(bits))
    return np.clip(c, 0, 2**bits - 1).astype(np.uint16)
