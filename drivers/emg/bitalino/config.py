"""Configuration of the BITalino EMG source: which boards, where to find them, which muscle on which input."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.emg.labels import EMG_LABELS

_INPUT = re.compile(r"^A[1-6]$")


class BoardConfig(BaseModel):
    """One board: found by a path (udev symlink, /dev/serial/by-id/...) or by USB VID/PID(/serial number)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$", description="visit-file stream name, e.g. emg_a")
    path: str | None = None
    usb_vid: int | None = Field(default=None, ge=0, le=0xFFFF)
    usb_pid: int | None = Field(default=None, ge=0, le=0xFFFF)
    usb_serial: str | None = None
    serial: str | None = Field(default=None, description="identity to record; default USB serial number or path")
    inputs: dict[str, str] = Field(description="analog input -> channel label, e.g. {'A1': 'TA_R'}")
    battery_threshold: int = Field(default=0, ge=0, le=63)

    @field_validator("inputs")
    @classmethod
    def _inputs_ok(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("a board needs at least one analog input mapped to a channel label")
        for k, lab in v.items():
            if not _INPUT.match(k):
                raise ValueError(f"analog input {k!r} must be A1..A6")
            if lab not in EMG_LABELS:
                raise ValueError(f"channel label {lab!r} (input {k}) is not one of {EMG_LABELS}")
        if len(set(v.values())) != len(v):
            raise ValueError(f"channel labels repeat on one board: {v}")
        return dict(sorted(v.items()))

    @model_validator(mode="after")
    def _where(self) -> "BoardConfig":
        if self.path is None and (self.usb_vid is None or self.usb_pid is None):
            raise ValueError(f"board {self.stream!r}: give a path, or a USB vid and pid")
        return self

    @property
    def channel_indices(self) -> tuple[int, ...]:
        """0-based analog inputs acquired, in acquisition (= frame) order."""
        return tuple(int(k[1]) - 1 for k in self.inputs)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.inputs[k] for k in self.inputs)


def _default_boards() -> list[BoardConfig]:
    return [
        BoardConfig(stream="emg_a", path="/dev/bitalino_a", inputs={"A1": "TA_R", "A2": "TA_L", "A3": "MM_R", "A4": "MM_L"}),
        BoardConfig(stream="emg_b", path="/dev/bitalino_b", inputs={"A1": "DA_R", "A2": "DA_L", "A3": "SCM_R", "A4": "SCM_L"}),
    ]


class BitalinoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    boards: list[BoardConfig] = Field(default_factory=_default_boards, min_length=1, max_length=4)
    rate: Literal[1, 10, 100, 1000] = 1000
    simulated: bool = Field(default=False, description="set by whoever started a simulator behind the path(s)")
    min_firmware_major: int = Field(default=5, description="(r)evolution firmware is 5.x")
    reply_timeout_s: float = Field(default=1.0, gt=0)
    command_gap_s: float = Field(default=0.02, ge=0, description="pause between command bytes")
    stall_s: float = Field(default=0.25, gt=0, description="no bytes for this long in live mode = stall event")
    read_interval_s: float = Field(
        default=0.02, ge=0, le=0.05,
        description="minimum time between two reads of a port: batches frames (CPU) at no cost to the fit",
    )
    restart_after_s: float = Field(default=2.0, gt=0, description="stalled this long: stop/start the board again")

    @model_validator(mode="after")
    def _unique(self) -> "BitalinoConfig":
        names = [b.stream for b in self.boards]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names repeat: {names}")
        labels = [lab for b in self.boards for lab in b.labels]
        if len(set(labels)) != len(labels):
            raise ValueError(f"a channel label is mapped on two boards: {labels}")
        return self
