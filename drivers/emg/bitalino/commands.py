"""Command bytes of BITalino (r)evolution (one byte each; PWM takes one value byte after it).

Bit layouts as documented in PLUX's public APIs (bitalino.py / bitalino.cpp, see docs/devices.md):

    idle mode
      <threshold 6 bits> 0 0     battery threshold (0..63 -> 3.4..3.8 V)
      <Fs 2 bits> 0 0 0 0 1 1    sampling rate code: 0=1 Hz, 1=10 Hz, 2=100 Hz, 3=1000 Hz
      A6 A5 A4 A3 A2 A1 0 1      start live mode with the analog channel mask
      A6 A5 A4 A3 A2 A1 1 0      start simulated mode (the firmware's own test signals)
      0 0 0 0 0 1 1 1            send version string ("BITalino_v5.2\\n")
      0 0 0 0 1 0 1 1            send state (16-byte reply with CRC4), revolution only
    any mode
      1 0 1 1 O2 O1 1 1          set digital outputs (revolution)
      1 0 1 0 0 0 1 1, <byte>    set PWM output 0..255 (revolution)
      1 1 1 1 1 1 1 1            go to idle mode from any mode (revolution)
    live mode
      0 0 0 0 0 0 0 0            stop: back to idle
"""

from __future__ import annotations

from collections.abc import Iterable

RATES: dict[int, int] = {1: 0, 10: 1, 100: 2, 1000: 3}
RATE_BY_CODE: dict[int, int] = {v: k for k, v in RATES.items()}

VERSION = 0x07
STATE = 0x0B
STOP = 0x00
IDLE_ANY = 0xFF
PWM = 0xA3
TRIGGER_BASE = 0xB3


def set_rate(rate_hz: int) -> int:
    if rate_hz not in RATES:
        raise ValueError(f"BITalino sampling rate must be one of {sorted(RATES)} Hz, not {rate_hz}")
    return (RATES[rate_hz] << 6) | 0x03


def channel_mask(channels: Iterable[int]) -> int:
    """Mask bits for analog inputs given 0-based (0 = A1 ... 5 = A6)."""
    mask = 0
    chans = list(channels)
    if not chans:
        raise ValueError("at least one analog channel must be acquired")
    for ch in chans:
        if not 0 <= int(ch) <= 5:
            raise ValueError(f"analog channel index {ch} is not in 0..5 (A1..A6)")
        if mask & (1 << ch):
            raise ValueError(f"analog channel A{ch + 1} given twice")
        mask |= 1 << ch
    return mask


def start(channels: Iterable[int], *, simulated: bool = False) -> int:
    """Start live (or the firmware's simulated) mode on the given 0-based analog channels."""
    return (channel_mask(channels) << 2) | (0x02 if simulated else 0x01)


def battery_threshold(value: int) -> int:
    if not 0 <= int(value) <= 63:
        raise ValueError(f"battery threshold must be 0..63, not {value}")
    return int(value) << 2


def trigger(o1: bool, o2: bool) -> int:
    return TRIGGER_BASE | (0x04 if o1 else 0) | (0x08 if o2 else 0)


def pwm(value: int) -> bytes:
    if not 0 <= int(value) <= 255:
        raise ValueError(f"PWM output must be 0..255, not {value}")
    return bytes((PWM, int(value)))


def acquired_channels(mask: int) -> tuple[int, ...]:
    """0-based channel indices of a 6-bit mask, in acquisition order."""
    return tuple(i for i in range(6) if mask & (1 << i))
