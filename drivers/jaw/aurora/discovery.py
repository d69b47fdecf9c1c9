"""Find the tracker's serial port: a configured path / udev symlink, or USB VID/PID/serial via pyserial."""

from __future__ import annotations

import os

from serial.tools import list_ports

from acquisition.source import SourceError
from drivers.jaw.aurora.config import AuroraConfig


def describe_ports() -> str:
    ports = list(list_ports.comports())
    if not ports:
        return "no serial ports at all"
    return "; ".join(
        f"{p.device} (vid={p.vid and f'{p.vid:04x}'}, pid={p.pid and f'{p.pid:04x}'}, serial={p.serial_number})" for p in ports
    )


def find_port(cfg: AuroraConfig) -> str:
    """The device path to open. Raises SourceError naming what was expected and what was found."""
    if cfg.path is not None:
        if not os.path.exists(cfg.path):
            raise SourceError(f"NDI tracker: configured serial path {cfg.path!r} does not exist (found: {describe_ports()})")
        return cfg.path
    want = f"vid={cfg.usb_vid and f'{cfg.usb_vid:04x}'} pid={cfg.usb_pid and f'{cfg.usb_pid:04x}'} serial={cfg.usb_serial}"
    hits = [
        p
        for p in list_ports.comports()
        if (cfg.usb_vid is None or p.vid == cfg.usb_vid)
        and (cfg.usb_pid is None or p.pid == cfg.usb_pid)
        and (cfg.usb_serial is None or p.serial_number == cfg.usb_serial)
    ]
    if not hits:
        raise SourceError(f"NDI tracker: no USB serial port with {want}; found: {describe_ports()}")
    if len(hits) > 1:
        raise SourceError(f"NDI tracker: {len(hits)} ports match {want} ({[p.device for p in hits]}); set usb_serial or path")
    return str(hits[0].device)
