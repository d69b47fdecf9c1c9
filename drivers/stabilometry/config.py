"""Configuration models of the stabilometry drivers (pydantic, validated at the boundary)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PlateGeometry(BaseModel):
    """Positions of the four load cells: corners of a `width_mm` x `depth_mm` rectangle centred on the origin.

    Cell order everywhere is TR, BR, TL, BL (top = front/anterior, right = subject's right), the order of
    hid-wiimote's ABS_HAT0X, ABS_HAT0Y, ABS_HAT1X, ABS_HAT1Y.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    width_mm: float = Field(default=433.0, gt=0, description="mediolateral distance between cell centres")
    depth_mm: float = Field(default=238.0, gt=0, description="anteroposterior distance between cell centres")


class StepOffConfig(BaseModel):
    """A subject is 'on' the plate while the total load stays above `threshold_kg` (with hysteresis)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold_kg: float = Field(default=10.0, gt=0)
    hysteresis_kg: float = Field(default=2.0, ge=0, description="back 'on' only above threshold + hysteresis")


class ResampleConfig(BaseModel):
    """SWARII resampling of an irregular stream onto a uniform grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_hz: float = Field(default=100.0, gt=0, le=1000)
    window_s: float = Field(default=0.1, gt=0, le=2.0, description="SWARII sliding window width")


class BalanceBoardConfig(BaseModel):
    """Wii Balance Board through hid-wiimote's evdev device.

    `device`: "auto" (search /dev/input by name / VID:PID), an event device path (/dev/input/eventN), or the
    path of a FIFO / socket carrying the same 24-byte `struct input_event` records (the simulator's fallback
    when /dev/uinput is not usable).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str = "auto"
    name: str = "Nintendo Wii Remote Balance Board"
    vendor: int = 0x057E
    product: int = 0x0306
    geometry: PlateGeometry = PlateGeometry()
    resample: ResampleConfig = ResampleConfig()
    step_off: StepOffConfig = StepOffConfig()
    hold_after_s: float = Field(default=0.2, gt=0, description="silence after which held values feed the resampler")
    reconnect_s: float = Field(default=0.25, gt=0)
    serial: str = Field(default="", description="identity override; default: device uniq/phys or path")
    simulated: bool = Field(default=False, description="set by whoever started a simulator behind `device`")


class CellBoardCalibration(BaseModel):
    """Per-cell transfer function: kg = (counts - offset_counts) * kg_per_count. Cells TR, BR, TL, BL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offset_counts: tuple[int, int, int, int] = (0, 0, 0, 0)
    kg_per_count: tuple[float, float, float, float] = (1.0 / 86000.0,) * 4
    source: str = "device factory calibration (CAL?)"

    @model_validator(mode="after")
    def _positive(self) -> "CellBoardCalibration":
        if any(s <= 0 for s in self.kg_per_count):
            raise ValueError(f"kg_per_count must be > 0 for every cell, got {self.kg_per_count}")
        return self


class CellBoardConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    port: str
    rate_hz: Literal[25, 50, 100, 200, 400] = 100
    baudrate: int = 230400
    geometry: PlateGeometry = PlateGeometry()
    step_off: StepOffConfig = StepOffConfig()
    calibration: CellBoardCalibration | None = Field(
        default=None, description="None: use the board's own calibration (CAL? reply)"
    )
    reply_timeout_s: float = Field(default=1.0, gt=0)
    stall_s: float = Field(default=0.3, gt=0, description="no frame for this long while streaming: a stall event")
    simulated: bool = Field(default=False, description="set by whoever started a simulator behind `port`")


class LslPlateConfig(BaseModel):
    """A six-component force plate publishing Fx Fy Fz Mx My Mz on LSL (a vendor app's outlet)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_name: str = Field(min_length=1)
    stream_type: str = "Force"
    h_mm: float = Field(default=0.0, ge=0, le=200, description="height of the plate surface above the origin, mm")
    resolve_timeout_s: float = Field(default=5.0, gt=0)
    step_off: StepOffConfig = StepOffConfig()
    gravity: float = Field(default=9.80665, gt=0)
    clock_every_s: float = Field(default=5.0, gt=0, description="time_correction() sampling period")
    max_buflen_s: int = Field(default=360, ge=10)
