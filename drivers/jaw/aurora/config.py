"""Configuration of the NDI Aurora / Polaris jaw tracker (pydantic; keyword-only at the boundary)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.jaw.aurora.commands import BAUD_TO_COMM_CODE
from drivers.jaw.aurora.geometry import check_axes

Vec3 = tuple[float, float, float]
Mat3 = tuple[Vec3, Vec3, Vec3]


class AuroraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- where the device is: a path (udev symlink, /dev/serial/by-id/...) or USB identifiers
    path: str | None = Field(default=None, description="serial device path or udev symlink")
    usb_vid: int | None = Field(default=None, ge=0, le=0xFFFF)
    usb_pid: int | None = Field(default=None, ge=0, le=0xFFFF)
    usb_serial: str | None = None
    # -- what the device must be (checked against VER at open); None = accept any NDI system
    expected_model: str | None = Field(default=None, description="e.g. 'Aurora' or 'Polaris'")
    expected_serial: str | None = None
    # -- link and timing
    baudrate: int = Field(default=115200, description="rate switched to with COMM after INIT")
    nominal_rate: float = Field(default=40.0, gt=0, description="device frame rate, Hz")
    reply_timeout_s: float = Field(default=0.1, gt=0, description="TX reply wait before polling again")
    reset_timeout_s: float = Field(default=2.0, gt=0, description="wait for RESET after a break")
    command_timeout_s: float = Field(default=1.0, gt=0)
    reconnect_budget_s: float = Field(default=2.0, gt=0)
    poll_factor: float = Field(default=2.0, ge=1.0, description="TX polls per device frame (>1: no frame lost)")
    poll_command: Literal["TX", "BX"] = Field(
        default="TX", description="tracking poll: TX (ASCII, 0.01 mm) or BX (binary floats, stored at TX resolution)")
    # -- tools
    head_tool_serial: str | None = Field(default=None, description="PHINF serial of the head reference sensor")
    jaw_tool_serial: str | None = Field(default=None, description="PHINF serial of the mandibular sensor")
    # -- geometry
    incisal_offset_mm: Vec3 = Field(description="incisal point in the mandibular sensor frame, mm")
    head_axes: Mat3 = Field(
        default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        description="rows: the anatomical x (lateral +right), y (vertical +up), z (AP +forward) axes in head-sensor coordinates",
    )
    icp_mm: Vec3 | None = Field(default=None, description="incisal point at ICP in the (anatomical) head frame, mm")
    simulated: bool = False

    @field_validator("baudrate")
    @classmethod
    def _baud(cls, v: int) -> int:
        if v not in BAUD_TO_COMM_CODE:
            raise ValueError(f"baudrate {v} is not a COMM rate; choose one of {sorted(BAUD_TO_COMM_CODE)}")
        return v

    @field_validator("head_axes")
    @classmethod
    def _axes(cls, v: Mat3) -> Mat3:
        check_axes(v)  # type: ignore[arg-type]
        return v

    @model_validator(mode="after")
    def _where(self) -> "AuroraConfig":
        if self.path is None and self.usb_vid is None and self.usb_serial is None:
            raise ValueError("say where the tracker is: `path` (or udev symlink) or USB `usb_vid`/`usb_pid`/`usb_serial`")
        if (self.head_tool_serial is None) != (self.jaw_tool_serial is None):
            raise ValueError("give both head_tool_serial and jaw_tool_serial, or neither (then handle order decides)")
        return self
