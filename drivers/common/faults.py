"""Fault switchboard of a wire-level simulator.

Faults are armed by name with a count (how many times to fire) and fired by the simulator at its next
opportunity. Tests arm one fault and check the driver counted it, logged it and went on.

A simulator declares the faults it implements (`restrict`, done by every simulator's constructor); arming any
other is refused with `UnsupportedFault`, so a test or an operator never waits for a fault that cannot come.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

FaultName = Literal[
    "bad_crc",  # next frame/reply carries a wrong checksum
    "truncated",  # next frame is cut short
    "garbage",  # random bytes between two frames
    "seq_jump",  # the sample counter skips ahead (samples lost on the device side)
    "stall",  # the device stops sending for `stall_s`, then resumes (and sends the backlog)
    "unplug",  # the pty disappears for `unplug_s`, then a new one appears behind the same path
    "drift",  # from now on the device clock runs `drift_ppm` off the host (DEFAULT_DRIFT_PPM when that is 0)
    # file-delivering devices (scanner export folder)
    "wrong_units",  # a mesh written in metres instead of millimetres
    "empty",  # a zero-byte capture file
    "nan",  # a mesh with NaN coordinates
    "missing_texture",  # an OBJ whose MTL names a texture that never arrives
]


FAULT_NAMES: tuple[str, ...] = get_args(FaultName)
#: what `drift` sets when FaultSettings.drift_ppm is 0 (a typical crystal is within +-50 ppm; 100 is visible)
DEFAULT_DRIFT_PPM = 100.0


class UnsupportedFault(ValueError):
    """A fault this simulator does not implement (or a name no simulator knows)."""


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
        self._supported: frozenset[str] | None = None
        self._device = ""

    @property
    def supported(self) -> tuple[str, ...]:
        """The faults the simulator behind this switchboard implements (all names until one restricts it)."""
        return tuple(f for f in FAULT_NAMES if self._supported is None or f in self._supported)

    def restrict(self, supported: Iterable[str], device: str) -> None:
        """Called by a simulator with the faults it implements; refuses one armed before that it cannot fire."""
        allowed = frozenset(supported)
        with self._lock:
            bad = sorted(f for f, n in self._armed.items() if n > 0 and f not in allowed)
            self._supported, self._device = allowed, device
        if bad:
            raise UnsupportedFault(self._refusal(bad[0]))

    def _refusal(self, fault: str) -> str:
        if fault not in FAULT_NAMES:
            return f"unknown fault {fault!r}; faults are: {', '.join(FAULT_NAMES)}"
        return (f"the {self._device} simulator does not implement fault {fault!r}; "
                f"it implements: {', '.join(self.supported)}")

    def arm(self, fault: FaultName, count: int = 1) -> None:
        """Arm `fault` to fire `count` more times; UnsupportedFault if the simulator cannot fire it."""
        if fault not in FAULT_NAMES or (self._supported is not None and fault not in self._supported):
            raise UnsupportedFault(self._refusal(fault))
        if count < 1:
            raise ValueError(f"fault count must be >= 1, got {count}")
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
