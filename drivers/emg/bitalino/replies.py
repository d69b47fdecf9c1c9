"""BITalino (r)evolution command replies: the 16-byte state reply (command 0x0B) and the version string."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from drivers.emg.bitalino.frame import check_frame, crc4

STATE_LENGTH = 16


class BitalinoState(BaseModel):
    """Reply to the state command: all six analog inputs, battery ADC, battery threshold, digital ports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    analog: tuple[int, int, int, int, int, int]
    battery: int = Field(ge=0, le=1023)
    battery_threshold: int = Field(ge=0, le=63)
    digital: tuple[int, int, int, int]


def encode_state(state: BitalinoState) -> bytes:
    """16 bytes: 6 x uint16 LE analog, uint16 LE battery, uint8 threshold, uint8 (I1 I2 O1 O2 | CRC4)."""
    raw = bytearray()
    for a in state.analog:
        raw += int(a).to_bytes(2, "little")
    raw += int(state.battery).to_bytes(2, "little")
    raw.append(state.battery_threshold)
    d = 0
    for bit in state.digital:
        d = (d << 1) | (1 if bit else 0)
    raw.append(d << 4)
    raw[-1] |= crc4(raw)
    return bytes(raw)


class StateCrcError(ValueError):
    pass


def decode_state(raw: bytes) -> BitalinoState:
    if len(raw) != STATE_LENGTH:
        raise ValueError(f"state reply has {STATE_LENGTH} bytes, got {len(raw)}")
    if not check_frame(raw):
        raise StateCrcError(f"state reply fails its CRC4: {raw.hex()}")
    vals = [int.from_bytes(raw[i : i + 2], "little") for i in range(0, 14, 2)]
    last = raw[15]
    return BitalinoState(
        analog=tuple(vals[:6]),  # type: ignore[arg-type]
        battery=vals[6],
        battery_threshold=raw[14],
        digital=((last >> 7) & 1, (last >> 6) & 1, (last >> 5) & 1, (last >> 4) & 1),
    )


VERSION_RE = re.compile(r"BITalino_v(\d+)\.(\d+)")


@dataclass(frozen=True)
class VersionInfo:
    text: str
    major: int
    minor: int

    @property
    def revolution(self) -> bool:
        """(r)evolution firmware is 5.x and later (the C++ API's `isBitalino2` test)."""
        return self.major >= 5


def parse_version(text: str) -> VersionInfo | None:
    m = VERSION_RE.search(text)
    if m is None:
        return None
    return VersionInfo(text=text.strip(), major=int(m.group(1)), minor=int(m.group(2)))


def extract_version(buf: bytes) -> tuple[str | None, int]:
    """Find 'BITalino...\\n' in `buf` (frames or noise may come first, as after a stop).

    Returns (version text without the newline, index just past it) or (None, 0) if not complete yet."""
    i = buf.find(b"BITalino")
    if i < 0:
        return None, 0
    j = buf.find(b"\n", i)
    if j < 0:
        return None, 0
    return buf[i:j].decode("ascii", errors="replace"), j + 1
