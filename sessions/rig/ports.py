"""Where a serial instrument is: a stable path, or the USB serial number of its adapter, found at open time.

A kernel-enumerated name (`/dev/ttyUSB0`, `/dev/ttyACM1`, `/dev/pts/4`) follows plug order, not the device: after a
reboot or a replug the EMG board may be `ttyUSB1` and the tracker `ttyUSB0`, and a visit would record the wrong
instrument under the right name. So a rig file gives a port either by a path that names the device (a udev
symlink such as `/dev/amuse/emg-a`, or `/dev/serial/by-id/usb-<vendor>_<product>_<serial>-if00-port0`), or by
`usb_serial = "..."`, the serial number of the USB-serial adapter, looked up through pyserial's
`serial.tools.list_ports.comports()` when the rig is built. The lookup is injectable (`comports=`) so tests fake
the bus. A path that does not exist is not refused here: the driver refuses it at open with its own one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from serial.tools import list_ports

from acquisition.source import SourceError

#: what `comports()` returns: objects with `device`, `vid`, `pid`, `serial_number` (pyserial's ListPortInfo)
Comports = Callable[[], Iterable[Any]]

#: names the kernel gives in plug order: refused, they do not say which device is behind them
_ENUMERATED = re.compile(r"^/dev/(tty(USB|ACM|S|AMA|XRUSB|SAC|HS|MFD|THS)\d+|pts/\d+|input/event\d+)$")
_URL = re.compile(r"^(socket|rfc2217)://[^\s/]+:\d+$")


class RigError(SourceError):
    """An instrument of the rig cannot be built: its USB serial is not on the bus, two devices share a port..."""


def check_stable_path(value: str, what: str = "port") -> str:
    """`value` if it is an absolute, normalised path that names a device (or a socket:// URL), else ValueError."""
    if _URL.match(value):
        return value
    if not value.startswith("/"):
        raise ValueError(f"{what} {value!r} is not an absolute path; give a stable path such as "
                         "/dev/serial/by-id/... or a udev symlink, or usb_serial = \"...\"")
    if str(PurePosixPath(value)) != value or "/../" in value + "/" or "/./" in value + "/":
        raise ValueError(f"{what} {value!r} is not a normalised path (no '.', '..', '//' or trailing '/')")
    if _ENUMERATED.match(value):
        raise ValueError(f"{what} {value!r} is numbered by the kernel in plug order and may name another device "
                         "after a replug; give /dev/serial/by-id/..., a udev symlink, or usb_serial = \"...\"")
    return value


class SerialPort(BaseModel):
    """The location fields of a serial instrument: exactly one of `port` or `usb_serial` (+ optional vid/pid)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str | None = Field(default=None, description="stable path: udev symlink or /dev/serial/by-id/...")
    usb_serial: str | None = Field(default=None, min_length=1, max_length=120,
                                   description="USB serial number of the port's adapter (list_ports serial_number)")
    usb_vid: int | None = Field(default=None, ge=0, le=0xFFFF, description="with usb_serial: the adapter's vendor id")
    usb_pid: int | None = Field(default=None, ge=0, le=0xFFFF, description="with usb_serial: the adapter's product id")

    @field_validator("port")
    @classmethod
    def _stable(cls, v: str | None) -> str | None:
        return None if v is None else check_stable_path(v)

    @model_validator(mode="after")
    def _one_way(self) -> "SerialPort":
        if (self.port is None) == (self.usb_serial is None):
            raise ValueError("give exactly one of `port` (a stable path) or `usb_serial`")
        if self.port is not None and (self.usb_vid is not None or self.usb_pid is not None):
            raise ValueError("usb_vid / usb_pid go with usb_serial, not with a port path")
        return self

    def where(self) -> str:
        """How the rig file finds it, for messages: `port /dev/amuse/emg-a` or `USB serial 'A5' (0403:6001)`."""
        if self.port is not None:
            return f"port {self.port}"
        ids = f" ({_hex(self.usb_vid)}:{_hex(self.usb_pid)})" if self.usb_vid is not None or self.usb_pid is not None \
            else ""
        return f"USB serial {self.usb_serial!r}{ids}"

    def same_port(self, other: "SerialPort") -> bool:
        """True when both entries name the same port: the same path, or the same USB serial number with ids that
        do not tell them apart (a missing vid/pid matches any)."""
        if self.port is not None or other.port is not None:
            return self.port == other.port
        return self.usb_serial == other.usb_serial and _compatible(self.usb_vid, other.usb_vid) \
            and _compatible(self.usb_pid, other.usb_pid)


def _compatible(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


def _hex(v: int | None) -> str:
    return "*" if v is None else f"{v:04x}"


@dataclass(frozen=True)
class ResolvedPort:
    """The path to open now, and the adapter's USB serial number when the bus says it (None: a pty, Bluetooth)."""

    path: str
    usb_serial: str | None


def describe_ports(ports: Iterable[Any]) -> str:
    shown = [f"{p.device} [{_hex(p.vid)}:{_hex(p.pid)} serial={p.serial_number or '-'}]" for p in ports]
    return "; ".join(shown) or "no serial ports at all"


def resolve_port(device: str, spec: SerialPort, *, comports: Comports = list_ports.comports) -> ResolvedPort:
    """Where `device` (its rig name) is now. Raises RigError naming what was expected and every port found."""
    if spec.port is not None:
        return ResolvedPort(spec.port, _usb_serial_of(spec.port, comports))
    ports = list(comports())
    hits = [p for p in ports if p.serial_number == spec.usb_serial
            and (spec.usb_vid is None or p.vid == spec.usb_vid) and (spec.usb_pid is None or p.pid == spec.usb_pid)]
    if len(hits) == 1:
        return ResolvedPort(str(hits[0].device), spec.usb_serial)
    if not hits:
        raise RigError(f"{device}: no serial port with {spec.where()}; found: {describe_ports(ports)}")
    raise RigError(f"{device}: {len(hits)} ports match {spec.where()} ({describe_ports(hits)}); "
                   "give usb_vid and usb_pid too, or a port path")


def _usb_serial_of(path: str, comports: Comports) -> str | None:
    """The USB serial number of the adapter behind a path (a by-id or udev symlink resolves to its tty)."""
    if _URL.match(path):
        return None
    try:
        real = os.path.realpath(path)
        ports = list(comports())
    except OSError:
        return None
    for p in ports:
        if os.path.realpath(str(p.device)) == real:
            return p.serial_number or None
    return None
