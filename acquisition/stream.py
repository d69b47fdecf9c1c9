"""What a stream is: its channels, units, raw dtype, nominal rate, scaling and the device behind it."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StreamKind = Literal["emg", "jaw", "jaw_pose", "plate", "cop", "markers", "other"]

#: numpy dtype names a stream may carry (raw device codes or physical floats)
RawDtype = Literal["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class DeviceIdentity(BaseModel):
    """Who produced the samples. `serial` is the LSL `source_id` of the stream's outlet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1, max_length=120)
    serial: str = Field(min_length=1, max_length=120)
    firmware: str = Field(default="unknown", max_length=120)
    vendor: str = Field(default="unknown", max_length=120)
    simulated: bool = False
    transport: str = Field(default="unknown", max_length=200, description="e.g. serial:/dev/ttyUSB0, lsl:NAME")


class StreamSpec(BaseModel):
    """Description of one recorded stream; written as attributes of `/streams/<name>`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="lower_snake_case, unique within a visit, e.g. 'emg', 'jaw_incisal'")
    kind: StreamKind
    channels: tuple[str, ...] = Field(min_length=1)
    units: tuple[str, ...] = Field(min_length=1, description="physical unit of each channel after scaling")
    dtype: RawDtype
    nominal_rate: float = Field(ge=0.0, description="Hz; 0 means irregular")
    scale: tuple[float, ...] | None = None
    offset: tuple[float, ...] | None = None
    raw_units: str = Field(default="", description="unit of the stored raw values, e.g. 'adc_code'; '' if physical")
    device: DeviceIdentity
    scale_source: str = Field(default="", description="where the transfer function comes from (citation)")

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"stream name {v!r} must match {_NAME.pattern}")
        return v

    @model_validator(mode="after")
    def _lengths(self) -> "StreamSpec":
        n = len(self.channels)
        if len(set(self.channels)) != n:
            raise ValueError(f"stream {self.name!r}: duplicate channel labels {self.channels}")
        for label, seq in (("units", self.units), ("scale", self.scale), ("offset", self.offset)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"stream {self.name!r}: {label} has {len(seq)} entries for {n} channels")
        return self

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def to_physical(self, raw: np.ndarray) -> np.ndarray:
        """Raw device values -> physical units: `raw * scale + offset` per channel (float64)."""
        out = np.asarray(raw, dtype=np.float64)
        if self.scale is not None:
            out = out * np.asarray(self.scale)
        if self.offset is not None:
            out = out + np.asarray(self.offset)
        return out
