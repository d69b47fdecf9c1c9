"""Fault switchboard of a wire-level simulator.

Faults are armed by name with a count (how many times to fire) and fired by the simulator at its next
opportunity. Tests arm one fault and check the driver counted it, logged it and went on.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultName = Literal[
    "bad_crc",  # next frame/reply carries a wrong checksum
    "truncated",  # next frame is cut short
    "garbage",  # random bytes between two frames
    "seq_jump",  # the sample counter skips ahead (samples lost on the device side)
    "stall",  # the device stops sending for `stall_s`, then resumes (and sends the backlog)
    "unplug",  # the pty disappears for `unplug_s`, then a new one appears behind the same path
    # file-delivering devices (scanner export folder)
    "wrong_units",  # a mesh written in metres instead of millimetres
    "empty",  # a zero-byte capture file
    "nan",  # a mesh with NaN coordinates
    "missing_texture",  # an OBJ whose MTL names a texture that never arrives
]


class FaultSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stall_s: float = Field(default=0.5, gt=0)
    unplug_s: float = Field(default=0.5, gt=0)
    seq_jump: int = Field(default=5, ge=1)
    garbage_bytes: int = Field(default=7, ge=1)
    drift_ppm: float = Field(default=0.0, description="device clock rate error, e.g. 100 = 100 ppm fast")


class FaultSwitchboard:
    """Thread-safe counters of armed faults and of faults fired."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = settings or FaultSettings()
        self._armed: dict[str, int] = {}
        self._fired: dict[str, int] = {}
        self._lock = threading.Lock()

    def arm(self, fault: FaultName, count: int = 1) -> None:
        with self._lock:
            self._armed[fault] = self._armed.get(fault, 0) + count

    def take(self, fault: FaultName) -> bool:
        """True (and one fewer armed) if `fault` is armed: the simulator fires it now."""
        with self._lock:
            n = self._armed.get(fault, 0)
            if n <= 0:
                return False
            self._armed[fault] = n - 1
            self._fired[fault] = self._fired.get(fault, 0) + 1
            return True

    def fired(self, fault: FaultName) -> int:
        with self._lock:
            return self._fired.get(fault, 0)

    def pending(self) -> int:
        with self._lock:
            return sum(self._armed.values())
